#include "metrics/recent_activity.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace std::chrono_literals;

TEST_CASE("recent activity: per second calls, failures and p99 per backend, oldest first",
          "[metrics][status]") {
  int64_t now_ms = 1'000'000'000'000;
  recent_activity recent{[&] { return now_ms; }};
  // Second s: 100 calls to postgres, one of them slow and one failed.
  for (int i = 0; i < 98; ++i) recent.call("postgres", call_outcome::success, 100us);
  recent.call("postgres", call_outcome::failure, 100us);
  recent.call("postgres", call_outcome::success, 50ms);
  recent.call("vectors", call_outcome::timeout, 1ms);
  auto snap = recent.snapshot();
  // The current second is not complete: every series is still zero.
  REQUIRE(snap.backends.size() == 2);
  CHECK(snap.backends[0].rps.back() == 0);
  now_ms += 1000;
  snap = recent.snapshot();
  CHECK(snap.window_s == recent_activity::window_s);
  auto& pg = snap.backends[0];
  CHECK(pg.name == "postgres");
  REQUIRE(pg.rps.size() == recent_activity::window_s);
  CHECK(pg.rps.back() == 100);
  CHECK(pg.errors.back() == 1);
  // p99 of 100 calls is the 99th: a 100 us call (half-octave buckets: the
  // bound just above it), not the 50 ms one.
  CHECK(pg.p99_ms.back() >= 0.1);
  CHECK(pg.p99_ms.back() < 0.15);
  CHECK(snap.backends[1].errors.back() == 1); // a timeout is a failure
  // Two minutes later the second has left the window.
  now_ms += 1000 * int64_t(recent_activity::window_s);
  snap = recent.snapshot();
  CHECK(snap.backends[0].rps.back() == 0);
  double total = 0;
  for (auto x : snap.backends[0].rps) total += x;
  CHECK(total == 0);
}

TEST_CASE("recent activity: fallbacks, hedges and outages are counted per second and merged "
          "into events",
          "[metrics][status]") {
  int64_t now_ms = 2'000'000'000'000;
  recent_activity recent{[&] { return now_ms; }};
  for (int i = 0; i < 30; ++i)
    recent.fallback(operation::get, "postgres", "vectors", fallback_reason::unhealthy);
  recent.fallback(operation::get, "postgres", "vectors", fallback_reason::failed);
  recent.hedge(operation::search, "postgres");
  recent.outage(operation::upsert);
  now_ms += 1000;
  recent.fallback(operation::get, "postgres", "vectors", fallback_reason::unhealthy);
  now_ms += 1000;
  auto snap = recent.snapshot();
  auto n = snap.fallbacks.size();
  CHECK(snap.fallbacks[n - 2] == 31);
  CHECK(snap.fallbacks[n - 1] == 1);
  CHECK(snap.hedges[n - 2] == 1);
  CHECK(snap.outages[n - 2] == 1);
  // One event per second and kind: 30 reads moved for the same reason are
  // one line of the page.
  REQUIRE(snap.events.size() == 5);
  CHECK(snap.events[0].kind == "fallback");
  CHECK(snap.events[0].reason == "unhealthy");
  CHECK(snap.events[0].count == 30);
  CHECK(snap.events[1].reason == "failed");
  CHECK(snap.events[2].kind == "hedge");
  CHECK(snap.events[2].to == "postgres");
  CHECK(snap.events[3].kind == "outage");
  CHECK(snap.events[3].operation == "upsert");
  CHECK(snap.events[4].count == 1);
  CHECK(snap.events[4].t_ms == snap.events[0].t_ms + 1000);
  // Only the latest are kept.
  for (int i = 0; i < 100; ++i) {
    now_ms += 1000;
    recent.outage(operation::get);
  }
  CHECK(recent.snapshot().events.size() == recent_activity::max_events);
}
