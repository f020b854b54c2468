#include "harness/inprocess.hpp"

#include "actors/direct_reads.hpp"
#include "actors/runtime.hpp"
#include "api/coordinator_client.hpp"
#include "backends/registry.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <future>
#include <stdexcept>

namespace lifeline::bench {

namespace {

uint16_t status_of(const caf::error& err) {
  if (is(err, errc::not_found)) return 404;
  if (is(err, errc::invalid_argument)) return 400;
  if (is(err, errc::conflict)) return 409;
  if (is(err, errc::timeout) || err == caf::sec::request_timeout) return 504;
  if (is(err, errc::all_backends_unavailable) || is(err, errc::not_durable)) return 503;
  return 500;
}

uint8_t applied_by(const write_receipt& r) {
  std::string names;
  for (auto& b : r.backends)
    if (b.outcome == write_outcome::applied) names += (names.empty() ? "" : ",") + b.backend;
  return served_from(names);
}

} // namespace

struct inprocess_service::impl {
  std::vector<backend_maker> makers;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  runtime rt;
  std::unique_ptr<coordinator_client> client;
  /// Gets and searches as an embedder makes them: from the coordinator's
  /// routing snapshot, straight to the backend.
  std::unique_ptr<direct_reads> reads;

  /// Waits for a direct read's answer. An answer given in place (the
  /// vector store answers on the caller's thread) costs no wait at all: a
  /// promise would take a once-flag and a futex wake per read, which the
  /// profile showed as 4% of an in-process search.
  template <class T, class Start, class OnOk>
  reply read(Start start, OnOk on_ok) {
    struct waiter {
      std::atomic<bool> done{false};
      reply r;
    };
    auto w = std::make_shared<waiter>();
    start([w, on_ok](caf::expected<served<T>> r) {
      w->r = r ? on_ok(*r) : reply{status_of(r.error()), 0};
      w->done.store(true, std::memory_order_release);
      w->done.notify_one();
    });
    w->done.wait(false, std::memory_order_acquire);
    return w->r;
  }

  template <class Reply, class OnOk, class... Ts>
  reply ask(OnOk on_ok, Ts... xs) {
    auto done = std::make_shared<std::promise<reply>>();
    auto f = done->get_future();
    client->submit([done, on_ok, xs...](caf::event_based_actor* self, const coordinator_actor& c) {
      self->request(c, std::chrono::seconds(30), xs...)
        .then([done, on_ok](Reply& r) { done->set_value(on_ok(r)); },
              [done](caf::error& e) { done->set_value(reply{status_of(e), 0}); });
    });
    return f.get();
  }
};

namespace {

class inprocess_target final : public target {
public:
  inprocess_target(inprocess_service::impl& svc, std::string collection, const dataset& data)
    : svc_(svc), collection_(std::move(collection)), data_(data) {}

  reply get(const std::string& id) override {
    return svc_.read<document>(
      [&](direct_reads::reply<document> cb) { svc_.reads->get(collection_, id, std::move(cb)); },
      [](served<document>& s) { return reply{200, served_from(s.backend)}; });
  }

  reply search(std::span<const float> q, uint32_t k) override {
    search_query query{collection_, {q.begin(), q.end()}, k, 0};
    return svc_.read<std::vector<search_hit>>(
      [&](direct_reads::reply<std::vector<search_hit>> cb) {
        svc_.reads->search(std::move(query), std::move(cb));
      },
      [](served<std::vector<search_hit>>& s) { return reply{200, served_from(s.backend)}; });
  }

  reply upsert(size_t first, size_t count, const std::string& content) override {
    std::vector<document> docs;
    for (size_t i = first; i < first + count; ++i) {
      auto v = data_.vector(i % data_.size());
      docs.push_back(document{"d" + std::to_string(i), {v.begin(), v.end()}, content, {}, 0});
    }
    return svc_.ask<write_receipt>([](write_receipt& r) { return reply{200, applied_by(r)}; },
                                   upsert_atom::value, collection_, std::move(docs));
  }

private:
  inprocess_service::impl& svc_;
  std::string collection_;
  const dataset& data_;
};

} // namespace

inprocess_service::inprocess_service(const std::string& conninfo, const std::string& data_dir)
  : impl_(std::make_unique<impl>()) {
  auto& d = *impl_;
  runtime_config rc;
  for (auto [name, kind, settings] :
       std::vector<std::tuple<std::string, std::string, backend_settings>>{
         {"postgres", "postgres", {{"conninfo", conninfo}, {"pool_size", "8"}}},
         {"vectors", "hnsw", {}}}) {
    auto made = find_backend_kind(kind)->configure(name, settings, data_dir);
    if (!made) throw std::runtime_error(made.error().message);
    d.makers.push_back(*made);
    rc.backends.push_back({name, *made});
  }
  tune_scheduler(d.cfg);
  d.cfg.set("logger.verbosity", caf::atom("quiet"));
  d.sys = std::make_unique<caf::actor_system>(d.cfg);
  rc.coordinator.attempt_timeout = std::chrono::milliseconds(300);
  rc.coordinator.probe_interval = std::chrono::milliseconds(500);
  rc.coordinator.handoff_dir = data_dir + "/handoff";
  d.rt = spawn_runtime(*d.sys, std::move(rc));
  if (!d.rt.await_ready(*d.sys, std::chrono::minutes(10)))
    throw std::runtime_error("the backends did not report in time");
  d.client = std::make_unique<coordinator_client>(*d.sys, d.rt.coordinator);
  d.reads = std::make_unique<direct_reads>(
    d.rt.routes, [c = d.client.get()](direct_reads::job j) { c->submit(std::move(j)); },
    std::chrono::milliseconds(30000));
}

inprocess_service::~inprocess_service() {
  impl_->reads.reset();
  impl_->client.reset();
  impl_->rt.stop();
}

std::unique_ptr<target> inprocess_service::make_target(const std::string& collection,
                                                       const dataset& data) {
  return std::make_unique<inprocess_target>(*impl_, collection, data);
}

bool inprocess_service::create(const std::string& collection, uint32_t dimension) {
  auto r = impl_->ask<write_receipt>([](write_receipt&) { return reply{201, 0}; }, create_atom::value,
                                     collection_spec{collection, dimension, metric::l2});
  return r.status == 201;
}

std::string inprocess_service::hold(const std::string& backend, bool down) {
  auto r = impl_->ask<ok_atom>([](ok_atom) { return reply{200, 0}; }, hold_atom::value, backend,
                               down);
  return r.status == 200 ? "" : "holding " + backend + " failed (status " + std::to_string(r.status) + ")";
}

} // namespace lifeline::bench
