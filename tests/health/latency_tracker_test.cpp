#include "health/latency_tracker.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

using tp = latency_tracker::time_point;
const tp t0 = tp{} + 1h;

latency_tracker_config small() {
  latency_tracker_config c;
  c.capacity = 100;
  c.min_samples = 10;
  c.max_age = 10s;
  c.refresh_every = 1;
  return c;
}

} // namespace

TEST_CASE("latency tracker: no quantile until enough samples", "[latency]") {
  latency_tracker t{small()};
  for (int i = 0; i < 9; ++i) t.record(1ms, t0);
  CHECK_FALSE(t.enough(t0));
  CHECK_FALSE(t.p95(t0));
  CHECK_FALSE(t.quantile(0.5, t0));
  t.record(1ms, t0);
  CHECK(t.enough(t0));
  CHECK(t.p95(t0) == 1ms);
}

TEST_CASE("latency tracker: p50 and p95 of the samples", "[latency]") {
  latency_tracker t{small()};
  for (int i = 1; i <= 100; ++i) t.record(std::chrono::milliseconds(i), t0);
  CHECK(t.p50(t0) == 50ms);
  CHECK(t.p95(t0) == 95ms);
  CHECK(t.quantile(0.99, t0) == 99ms);
  CHECK(t.fresh(t0) == 100);
}

TEST_CASE("latency tracker: the ring keeps only the newest samples", "[latency]") {
  latency_tracker t{small()};
  for (int i = 0; i < 100; ++i) t.record(500ms, t0);
  for (int i = 0; i < 100; ++i) t.record(2ms, t0);
  CHECK(t.p95(t0) == 2ms);
}

TEST_CASE("latency tracker: old samples age out", "[latency]") {
  latency_tracker t{small()};
  for (int i = 0; i < 50; ++i) t.record(300ms, t0);
  for (int i = 0; i < 50; ++i) t.record(1ms, t0 + 5s);
  CHECK(t.p95(t0 + 5s) == 300ms);
  // The stalled samples are older than max_age: only the fast ones count.
  CHECK(t.p95(t0 + 10s + 1ms) == 1ms);
  // And once those are old too, there is nothing to judge by.
  CHECK_FALSE(t.enough(t0 + 15s + 1ms));
}

TEST_CASE("latency tracker: quantiles are recomputed every refresh_every samples", "[latency]") {
  auto c = small();
  c.refresh_every = 10;
  latency_tracker t{c};
  for (int i = 0; i < 10; ++i) t.record(1ms, t0);
  CHECK(t.p95(t0) == 1ms);
  for (int i = 0; i < 9; ++i) t.record(100ms, t0);
  CHECK(t.p95(t0) == 1ms); // cached
  t.record(100ms, t0);
  CHECK(t.p95(t0) == 100ms);
  // Time alone also refreshes it (a tenth of max_age).
  for (int i = 0; i < 5; ++i) t.record(1ms, t0);
  CHECK(t.p95(t0) == 100ms);
  CHECK(t.p95(t0 + 1001ms) == 100ms); // 25 samples: 10 of 100 ms, p95 still 100 ms
  CHECK(t.p50(t0 + 1001ms) == 1ms);
}
