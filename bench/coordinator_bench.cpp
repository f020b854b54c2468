// Requests/s routed through the coordinator to the in-memory backend, next
// to a bare CAF request/response loop and to the backend actor alone, in the
// same run, printed as ratios against the bare loop.
//
//   build/bin/lifeline-bench-coordinator [--requests N] [--repeat R]
#include "actors/backend_actor.hpp"
#include "actors/direct_reads.hpp"
#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

/// The baseline: an actor that answers get from a map, inline.
backend_actor::behavior_type bare(backend_actor::pointer self, std::shared_ptr<memory_backend> store) {
  (void)self;
  auto unsupported = [] { return caf::error{errc::unsupported, std::string{"bench"}}; };
  return {
    [=](create_atom, const collection_spec&) -> caf::result<bool> { return unsupported(); },
    [=](drop_atom, const std::string&) -> caf::result<ok_atom> { return unsupported(); },
    [=](list_atom) -> caf::result<std::vector<collection_spec>> { return unsupported(); },
    [=](stats_atom, const std::string&) -> caf::result<collection_stats> { return unsupported(); },
    [=](upsert_atom, const std::string&, const std::vector<document>&) -> caf::result<ok_atom> {
      return unsupported();
    },
    [=](get_atom, const std::string& c, const std::string& id) -> caf::result<document> {
      auto d = store->get(c, id);
      if (!d) return make_error(d.error());
      return std::move(*d);
    },
    [=](remove_atom, const std::string&, const std::string&, uint64_t) -> caf::result<bool> {
      return unsupported();
    },
    [=](search_atom, const search_query&) -> caf::result<std::vector<search_hit>> {
      return unsupported();
    },
    [=](probe_atom) -> caf::result<ok_atom> { return ok_atom::value; },
    [=](scan_atom, const scan_request&) -> caf::result<std::vector<document>> {
      return unsupported();
    },
    [=](versions_atom, const range_request&) -> caf::result<std::vector<version_entry>> {
      return unsupported();
    },
    [=](digest_atom, const range_request&) -> caf::result<range_digest> { return unsupported(); },
    [=](purge_atom, uint64_t) -> caf::result<uint64_t> { return unsupported(); },
    [=](marker_atom) -> caf::result<std::string> { return unsupported(); },
    [=](marker_atom, const std::string&) -> caf::result<ok_atom> { return unsupported(); },
  };
}

struct loop_state {
  uint64_t sent = 0;
  uint64_t done = 0;
  uint64_t errors = 0;
};

/// Closed loop: keeps `inflight` gets outstanding until `total` finished.
template <class Handle, class Reply>
double run_loop(caf::actor_system& sys, Handle target, uint64_t total, uint64_t inflight,
                caf::duration timeout = caf::infinite) {
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  auto driver = sys.spawn([=](caf::stateful_actor<loop_state>* d, caf::actor reply_to) {
    auto issue = std::make_shared<std::function<void()>>();
    *issue = [=] {
      if (d->state.sent >= total) return;
      ++d->state.sent;
      d->request(target, timeout, get_atom::value, std::string{"bench"},
                 "doc-" + std::to_string(d->state.sent % 1000))
        .then(
          [=](const Reply&) {
            if (++d->state.done == total) d->send(reply_to, d->state.errors);
            else (*issue)();
          },
          [=](const caf::error&) {
            ++d->state.errors;
            if (++d->state.done == total) d->send(reply_to, d->state.errors);
            else (*issue)();
          });
    };
    for (uint64_t i = 0; i < inflight; ++i) (*issue)();
    return caf::behavior{[](caf::unit_t) {}};
  }, caf::actor{self});
  uint64_t errors = 0;
  self->receive([&](uint64_t e) { errors = e; });
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  caf::anon_send_exit(driver, caf::exit_reason::user_shutdown);
  if (errors > 0) std::fprintf(stderr, "warning: %llu errors\n", (unsigned long long) errors);
  return double(total) / secs;
}

double cpu_seconds(int who) {
  rusage u{};
  getrusage(who, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
         + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// What one batch of reads cost: the rate, and the CPU spent outside the
/// reading threads (the coordinator taking in outcomes, timers) per read.
struct thread_run {
  double per_second = 0;
  double other_cpu_us_per_read = 0;
};

/// `threads` threads each run `total / threads` reads one after another;
/// `read(i, done)` must call done() once the read is answered (in place
/// for an in-memory store).
template <class Read>
thread_run run_threads(int threads, uint64_t total, Read read) {
  std::atomic<double> reader_cpu{0};
  auto self_before = cpu_seconds(RUSAGE_SELF);
  auto start = clock_type::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      auto before = cpu_seconds(RUSAGE_THREAD);
      for (uint64_t i = t; i < total; i += threads) {
        std::atomic<bool> answered{false};
        read(i, [&] { answered.store(true, std::memory_order_release); });
        while (!answered.load(std::memory_order_acquire)) std::this_thread::yield();
      }
      double mine = cpu_seconds(RUSAGE_THREAD) - before;
      double cur = reader_cpu.load();
      while (!reader_cpu.compare_exchange_weak(cur, cur + mine)) {}
    });
  for (auto& t : ts) t.join();
  auto secs = std::chrono::duration<double>(clock_type::now() - start).count();
  auto other = cpu_seconds(RUSAGE_SELF) - self_before - reader_cpu.load();
  return {double(total) / secs, std::max(0.0, other) * 1e6 / double(total)};
}

} // namespace

int main(int argc, char** argv) {
  uint64_t total = 200000;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--requests")) total = std::stoull(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::stoi(argv[i + 1]);
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = std::make_shared<memory_backend>(2);
  store->create_collection({"bench", 8, metric::l2});
  std::vector<document> docs;
  for (int i = 0; i < 1000; ++i)
    docs.push_back({"doc-" + std::to_string(i), std::vector<float>(8, float(i)), "content", "{}", 0});
  store->upsert("bench", docs);

  auto baseline = sys.spawn(bare, store);
  auto single = spawn_backend_actor(sys, store, {1, false});
  auto scheduled_pool = spawn_backend_actor(sys, store, {2, false});
  auto detached_pool = spawn_backend_actor(sys, store, {2, true});
  runtime_config rc; // the defaults for an in-memory store: one scheduled worker
  rc.backends.push_back({"memory", shared_instance(store)});
  auto rt = spawn_runtime(sys, rc);
  runtime_config rcd;
  rcd.backends.push_back({"memory", shared_instance(store), {2, true}});
  auto rtd = spawn_runtime(sys, rcd);
  if (!rt.await_ready(sys) || !rtd.await_ready(sys)) return 1;

  std::printf("get-by-id, %llu requests per run, best of %d runs, 2 cores\n",
              (unsigned long long) total, repeat);
  std::printf("%-52s %9s %12s %8s\n", "path", "in flight", "requests/s", "ratio");
  for (uint64_t inflight : {1ull, 64ull}) {
    auto best = [&](auto run) {
      double b = 0;
      for (int r = 0; r < repeat; ++r) b = std::max(b, run());
      return b;
    };
    double base = best([&] { return run_loop<backend_actor, document>(sys, baseline, total, inflight); });
    double base_timeout = best([&] {
      return run_loop<backend_actor, document>(sys, baseline, total, inflight, caf::duration{5s});
    });
    double one = best([&] { return run_loop<backend_actor, document>(sys, single, total, inflight); });
    double pool_s = best([&] { return run_loop<backend_actor, document>(sys, scheduled_pool, total, inflight); });
    double pool_d = best([&] { return run_loop<backend_actor, document>(sys, detached_pool, total, inflight); });
    double coord_s = best([&] { return run_loop<coordinator_actor, served<document>>(sys, rt.coordinator, total, inflight); });
    double coord_d = best([&] { return run_loop<coordinator_actor, served<document>>(sys, rtd.coordinator, total, inflight); });
    auto row = [&](const char* name, double v) {
      std::printf("%-52s %9llu %12.0f %8.2f\n", name, (unsigned long long) inflight, v, v / base);
    };
    row("bare CAF request/response (baseline)", base);
    row("bare CAF request/response with a 5 s timeout", base_timeout);
    row("backend actor, 1 scheduled worker (memory default)", one);
    row("backend actor, pool of 2 scheduled workers", pool_s);
    row("backend actor, pool of 2 detached workers", pool_d);
    row("coordinator -> backend actor (memory default)", coord_s);
    row("coordinator -> pool of 2 detached workers", coord_d);
  }
  // Direct reads (actors/direct_reads.hpp): the caller's thread follows the
  // coordinator's routing snapshot to the store; no mailbox on the way. The
  // baseline is the store called by the same threads.
  {
    caf::scoped_actor self{sys};
    direct_reads reads{rt.routes, [](direct_reads::job) {}, std::chrono::milliseconds(5000)};
    std::printf("\ndirect reads vs the store called by the same threads, %llu reads, best of %d\n",
                (unsigned long long) total, repeat);
    std::printf("%-52s %9s %12s %8s %18s\n", "path", "threads", "requests/s", "ratio",
                "other CPU us/read");
    for (int threads : {1, 2}) {
      thread_run raw, direct;
      for (int r = 0; r < repeat; ++r) {
        auto a = run_threads(threads, total, [&](uint64_t i, auto done) {
          auto d = store->get("bench", "doc-" + std::to_string(i % 1000));
          (void) d;
          done();
        });
        if (a.per_second > raw.per_second) raw = a;
        auto b = run_threads(threads, total, [&](uint64_t i, auto done) {
          reads.get("bench", "doc-" + std::to_string(i % 1000),
                    [done](caf::expected<served<document>>) { done(); });
        });
        if (b.per_second > direct.per_second) direct = b;
      }
      auto row = [&](const char* name, const thread_run& v) {
        std::printf("%-52s %9d %12.0f %8.2f %18.2f\n", name, threads, v.per_second,
                    v.per_second / raw.per_second, v.other_cpu_us_per_read);
      };
      row("memory_backend::get on the caller's thread", raw);
      row("direct read (routing snapshot, outcome batched)", direct);
    }
  }
  rt.stop();
  rtd.stop();
  for (auto h : {baseline, single, scheduled_pool, detached_pool})
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  return 0;
}
