#include "health/circuit_breaker.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

using tp = circuit_breaker::time_point;
const tp t0 = tp{} + 1h;

circuit_breaker_config small() {
  circuit_breaker_config c;
  c.consecutive_failures = 3;
  c.window_size = 10;
  c.minimum_calls = 4;
  c.failure_rate = 0.5;
  c.slow_call_rate = 0.75;
  c.slow_call_duration = 1s;
  c.open_duration = 5s;
  c.half_open_trials = 2;
  c.half_open_successes = 2;
  c.probe_failures = 2;
  return c;
}

void call(circuit_breaker& b, call_result r, tp now, std::chrono::milliseconds latency = 1ms) {
  auto p = b.acquire(now);
  REQUIRE(p.admitted);
  b.record(p, r, latency, now);
}

} // namespace

TEST_CASE("circuit starts closed and admits calls", "[circuit]") {
  circuit_breaker b{small()};
  CHECK(b.state(t0) == circuit_state::closed);
  auto p = b.acquire(t0);
  CHECK(p.admitted);
  CHECK_FALSE(p.trial);
}

TEST_CASE("a connection-level failure opens the circuit at once", "[circuit]") {
  circuit_breaker b{small()};
  auto p = b.acquire(t0);
  auto changed = b.record(p, call_result::connection_failure, 1ms, t0);
  REQUIRE(changed);
  CHECK(*changed == circuit_state::open);
  CHECK_FALSE(b.acquire(t0).admitted);
  CHECK_FALSE(b.would_admit(t0 + 4s));
}

TEST_CASE("consecutive failures open the circuit, a success resets the count", "[circuit]") {
  auto cfg = small();
  cfg.minimum_calls = 100; // only the consecutive count may trip
  circuit_breaker b{cfg};
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  call(b, call_result::success, t0);
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  CHECK(b.state(t0) == circuit_state::closed);
  call(b, call_result::failure, t0);
  CHECK(b.state(t0) == circuit_state::open);
}

TEST_CASE("a failure rate over the sliding window opens the circuit", "[circuit]") {
  auto cfg = small();
  cfg.consecutive_failures = 100; // only the rate may trip
  circuit_breaker b{cfg};
  // Alternate: never two failures in a row, but half of all calls fail.
  call(b, call_result::success, t0);
  call(b, call_result::failure, t0);
  call(b, call_result::success, t0);
  CHECK(b.state(t0) == circuit_state::closed); // below minimum_calls
  call(b, call_result::failure, t0);
  CHECK(b.state(t0) == circuit_state::open); // 2 of 4 = 50%
}

TEST_CASE("the window forgets old calls", "[circuit]") {
  auto cfg = small();
  cfg.consecutive_failures = 100;
  circuit_breaker b{cfg};
  call(b, call_result::failure, t0);
  call(b, call_result::success, t0);
  call(b, call_result::success, t0);
  call(b, call_result::success, t0);
  call(b, call_result::failure, t0);
  // 2 of 5 failed: below 50%. Ten successes push the failures out.
  for (int i = 0; i < 10; ++i) call(b, call_result::success, t0);
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  CHECK(b.state(t0) == circuit_state::closed); // 4 of 10
  call(b, call_result::failure, t0);
  CHECK(b.state(t0) == circuit_state::open); // 5 of 10
}

TEST_CASE("slow calls over the threshold open the circuit", "[circuit]") {
  circuit_breaker b{small()};
  call(b, call_result::success, t0, 2000ms);
  call(b, call_result::success, t0, 2000ms);
  call(b, call_result::success, t0, 10ms);
  call(b, call_result::success, t0, 2000ms);
  CHECK(b.state(t0) == circuit_state::open); // 3 of 4 slow = 75%
}

TEST_CASE("an open circuit turns half-open after open_duration", "[circuit]") {
  circuit_breaker b{small()};
  call(b, call_result::connection_failure, t0);
  CHECK(b.state(t0 + 4999ms) == circuit_state::open);
  CHECK(b.state(t0 + 5s) == circuit_state::half_open);
}

TEST_CASE("half-open admits a bounded number of trials", "[circuit]") {
  circuit_breaker b{small()};
  call(b, call_result::connection_failure, t0);
  auto t1 = t0 + 5s;
  auto p1 = b.acquire(t1);
  auto p2 = b.acquire(t1);
  CHECK(p1.admitted);
  CHECK(p1.trial);
  CHECK(p2.admitted);
  CHECK_FALSE(b.acquire(t1).admitted);
  SECTION("enough trial successes close the circuit") {
    CHECK_FALSE(b.record(p1, call_result::success, 1ms, t1));
    auto changed = b.record(p2, call_result::success, 1ms, t1);
    REQUIRE(changed);
    CHECK(*changed == circuit_state::closed);
    CHECK(b.acquire(t1).admitted);
  }
  SECTION("a failed trial reopens it for another open_duration") {
    auto changed = b.record(p1, call_result::failure, 1ms, t1);
    REQUIRE(changed);
    CHECK(*changed == circuit_state::open);
    // The other trial finishing late changes nothing.
    CHECK_FALSE(b.record(p2, call_result::success, 1ms, t1));
    CHECK(b.state(t1 + 4s) == circuit_state::open);
    CHECK(b.state(t1 + 5s) == circuit_state::half_open);
  }
  SECTION("a finished trial frees its slot") {
    b.record(p1, call_result::success, 1ms, t1);
    CHECK(b.acquire(t1).admitted);
  }
}

TEST_CASE("outcomes of calls admitted before the circuit opened are ignored", "[circuit]") {
  circuit_breaker b{small()};
  auto early = b.acquire(t0);
  call(b, call_result::connection_failure, t0);
  REQUIRE(b.state(t0) == circuit_state::open);
  CHECK_FALSE(b.record(early, call_result::success, 1ms, t0));
  CHECK(b.state(t0) == circuit_state::open);
}

TEST_CASE("probes: failures open a closed circuit, success half-opens an open one", "[circuit]") {
  circuit_breaker b{small()};
  CHECK_FALSE(b.record_probe(call_result::failure, t0));
  auto changed = b.record_probe(call_result::failure, t0);
  REQUIRE(changed);
  CHECK(*changed == circuit_state::open);
  changed = b.record_probe(call_result::success, t0 + 1s);
  REQUIRE(changed);
  CHECK(*changed == circuit_state::half_open);
}

TEST_CASE("a successful probe resets the probe failure count", "[circuit]") {
  circuit_breaker b{small()};
  b.record_probe(call_result::failure, t0);
  b.record_probe(call_result::success, t0);
  CHECK_FALSE(b.record_probe(call_result::failure, t0));
  CHECK(b.state(t0) == circuit_state::closed);
}

TEST_CASE("a connection-level probe failure opens at once", "[circuit]") {
  circuit_breaker b{small()};
  auto changed = b.record_probe(call_result::connection_failure, t0);
  REQUIRE(changed);
  CHECK(*changed == circuit_state::open);
}

TEST_CASE("reset forgets past failures even when the circuit is closed", "[circuit]") {
  circuit_breaker b{small()};
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  b.reset();
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  CHECK(b.state(t0) == circuit_state::closed); // 2 since the reset, not 4
}

TEST_CASE("reset closes the circuit with a clean history", "[circuit]") {
  circuit_breaker b{small()};
  call(b, call_result::connection_failure, t0);
  auto changed = b.reset();
  REQUIRE(changed);
  CHECK(*changed == circuit_state::closed);
  call(b, call_result::failure, t0);
  call(b, call_result::failure, t0);
  CHECK(b.state(t0) == circuit_state::closed);
}
