// The coordinator over a real PostgreSQL (killed, paused, refused) and the
// in-memory store: callers see no error while one capable backend is healthy.
// Threads are real here; the test waits on conditions with generous bounds.
#include "actors/errors.hpp"
#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"
#include "backends/postgres_backend.hpp"
#include "metrics/counting_metrics.hpp"
#include "core/log.hpp"
#include "support/eventually.hpp"
#include "support/frozen_postgres.hpp"
#include "support/postgres_env.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <optional>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

/// Leaves the server running and not paused, whatever the test did.
struct server_guard {
  ~server_guard() {
    pg_control("resume");
    if (pg_control("status >/dev/null") != 0) pg_control("start");
  }
};

struct failover {
  std::unique_ptr<caf::actor_system_config> cfg = std::make_unique<caf::actor_system_config>();
  std::unique_ptr<caf::actor_system> sys = std::make_unique<caf::actor_system>(*cfg);
  std::shared_ptr<counting_metrics> metrics = std::make_shared<counting_metrics>();
  runtime rt;
  std::unique_ptr<caf::scoped_actor> self = std::make_unique<caf::scoped_actor>(*sys);
  std::string collection = unique_collection("failover");

  explicit failover(postgres_config pg) {
    runtime_config rc;
    pg.pool_size = 2;
    rc.backends.push_back({"postgres", [pg] { return make_shared_backend<postgres_backend>(pg); }});
    rc.backends.push_back({"memory", shared_instance(std::make_shared<memory_backend>())});
    rc.coordinator.attempt_timeout = 300ms;
    rc.coordinator.request_timeout = 60s;
    rc.coordinator.probe_interval = 200ms;
    rc.coordinator.probe_timeout = 300ms;
    rc.coordinator.circuit.open_duration = 500ms;
    rc.metrics = metrics;
    rt = spawn_runtime(*sys, rc);
    REQUIRE(rt.await_ready(*sys));
  }

  ~failover() {
    rt.stop();
    self.reset();
  }

  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts&&... xs) {
    caf::expected<Reply> out = caf::make_error(caf::sec::request_timeout);
    (*self)->request(rt.coordinator, 90s, std::forward<Ts>(xs)...)
      .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  caf::expected<served<document>> get(const std::string& id) {
    return ask<served<document>>(get_atom::value, collection, id);
  }

  void seed(int n) {
    REQUIRE(ask<write_receipt>(create_atom::value, collection_spec{collection, 2, metric::l2})
              ->applied() == 2);
    std::vector<document> docs;
    for (int i = 0; i < n; ++i) docs.push_back({"d" + std::to_string(i), {float(i), 1}, "c", "", 0});
    auto w = ask<write_receipt>(upsert_atom::value, collection, docs);
    REQUIRE(w);
    REQUIRE(w->applied() == 2);
  }

  /// Reads until one is served by `backend` (bounded): the recovery path
  /// runs on the coordinator's probe timer.
  bool served_again_by(const std::string& backend) {
    auto give_up = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < give_up) {
      auto r = get("d1");
      if (r && r->backend == backend) return true;
      // Pace the bounded poll; the condition, not this wait, decides.
      (*self)->receive(caf::after(20ms) >> [] {});
    }
    return false;
  }
};

} // namespace

TEST_CASE("PostgreSQL killed with requests in flight: every caller is served",
          "[postgres][failover]") {
  server_guard guard;
  failover f{postgres_from_env()};
  f.seed(100);
  constexpr int total = 400;
  for (int i = 0; i < total; ++i)
    (*f.self)->send(f.rt.coordinator, get_atom::value, f.collection, "d" + std::to_string(i % 100));
  int ok = 0, by_memory = 0, errors = 0;
  auto receive_one = [&] {
    (*f.self)->receive(
      [&](served<document>& r) {
        ++ok;
        by_memory += r.backend == "memory" ? 1 : 0;
      },
      [&](caf::error& e) {
        ++errors;
        UNSCOPED_INFO(describe(e));
      },
      caf::after(90s) >> [&] { ++errors; });
  };
  for (int i = 0; i < 20; ++i) receive_one();
  REQUIRE(pg_control("kill") == 0); // pg_ctl stop -m immediate, while the rest are in flight
  // And more after the server is gone: these can only be served by memory.
  constexpr int after = 100;
  for (int i = 0; i < after; ++i)
    (*f.self)->send(f.rt.coordinator, get_atom::value, f.collection, "d" + std::to_string(i));
  for (int i = 20; i < total + after; ++i) receive_one();
  CHECK(errors == 0);
  CHECK(ok == total + after);
  CHECK(by_memory >= after);
  CHECK(f.metrics->outages() == 0);
  SECTION("it comes back without restarting anything") {
    REQUIRE(pg_control("start") == 0);
    CHECK(f.served_again_by("postgres"));
  }
}

TEST_CASE("PostgreSQL paused (SIGSTOP): requests miss their deadline and fall over, SIGCONT "
          "recovers",
          "[postgres][failover]") {
  server_guard guard;
  failover f{postgres_from_env()};
  f.seed(10);
  REQUIRE(f.get("d1")->backend == "postgres");
  REQUIRE(pg_control("pause") == 0);
  for (int i = 0; i < 5; ++i) {
    auto r = f.get("d" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->backend == "memory");
  }
  CHECK(f.metrics->calls(operation::get, "postgres", call_outcome::timeout) >= 1);
  REQUIRE(pg_control("resume") == 0);
  CHECK(f.served_again_by("postgres"));
}

TEST_CASE("PostgreSQL frozen: reads fall over, its circuit opens, the stuck calls are abandoned "
          "and the runtime stops while it is still frozen",
          "[postgres][failover][frozen]") {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  auto previous = current_logger();
  set_logger(std::make_shared<spdlog::logger>("lifeline", ring));
  auto logged = [&](const std::string& part) {
    for (auto& line : ring->last_formatted())
      if (line.find(part) != std::string::npos) return true;
    return false;
  };
  auto cfg = postgres_from_env();
  cfg.statement_timeout = 500ms; // each call into the frozen server ends after 1.5 s
  std::optional<frozen_postgres> frozen; // declared first: resumed last, whatever happens
  std::optional<failover> f;
  f.emplace(cfg);
  f->seed(10);
  REQUIRE(f->get("d1")->backend == "postgres");
  frozen.emplace();
  // A read costs at most one attempt timeout on PostgreSQL, then memory
  // serves it; failed attempts and probes open PostgreSQL's circuit.
  bool opened = eventually([&] {
    auto r = f->get("d1");
    REQUIRE(r);
    CHECK(r->backend == "memory");
    auto health = f->ask<health_report>(health_atom::value);
    return health && health->backends.at(0).circuit == circuit_state::open;
  });
  CHECK(opened);
  CHECK(f->metrics->outages() == 0);
  // The backend's own calls, stuck in the frozen server, end by its watchdog
  // while the server is still frozen: its workers are not lost.
  CHECK(eventually([&] { return logged("connection abandoned"); }));
  // And so the runtime stops (the actor system waits for every worker)
  // without waiting for the server to come back.
  f->rt.stop();
  f->self.reset();
  CHECK(frozen->bounded([&] {
    f.reset();
    return true;
  }));
  frozen.reset();
  set_logger(previous);
}

TEST_CASE("a wrong password: PostgreSQL is down with a clear reason in health and log",
          "[postgres][failover]") {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  auto previous = current_logger();
  set_logger(std::make_shared<spdlog::logger>("lifeline", ring));
  auto cfg = postgres_from_env();
  cfg.password = "wrong";
  {
    failover f{cfg};
    auto r = f.get("d1"); // memory has no such collection: an answer, not an error
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::not_found));
    auto health = f.ask<health_report>(health_atom::value);
    REQUIRE(health);
    auto& pg = health->backends.at(0);
    CHECK(pg.name == "postgres");
    CHECK_FALSE(pg.serving);
    CHECK(pg.circuit == circuit_state::open);
    CHECK(pg.last_error.find("password authentication failed") != std::string::npos);
  }
  set_logger(previous);
  bool logged = false;
  for (auto& line : ring->last_formatted())
    logged = logged || (line.find("postgres") != std::string::npos
                        && line.find("password authentication failed") != std::string::npos);
  CHECK(logged);
}
