// The coordinator's one eligibility view (actors/backend_slot.hpp): flags
// change only through transitions and refresh(now), never through a getter,
// and each question (read, write, rebuild peer, data held) masks the same
// flags.
#include "actors/backend_slot.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace lifeline::detail;
using namespace std::chrono_literals;

namespace {

circuit_breaker_config one_failure_opens() {
  circuit_breaker_config c;
  c.consecutive_failures = 1;
  c.open_duration = 5s;
  c.half_open_trials = 1;
  return c;
}

/// A slot whose backend has not reported yet (the flags below other than
/// not_up do not depend on that).
slot new_slot(circuit_breaker_config c = one_failure_opens(), uint32_t max_calls = 0) {
  return slot{"b", c, max_calls};
}

} // namespace

TEST_CASE("eligibility: a backend that never reported up serves nothing", "[eligibility]") {
  auto s = new_slot();
  CHECK(s.routing.flags().has(health_flag::not_up));
  CHECK_FALSE(s.serves_reads(operation::get));
  CHECK_FALSE(s.reachable_for_write(operation::upsert));
  CHECK_FALSE(s.holds_data());
  CHECK_FALSE(s.rebuild_peer());
  // Capabilities are unknown until it has been up.
  CHECK_FALSE(s.routing.known_incapable(operation::get));
}

TEST_CASE("eligibility: the circuit flags change only through transitions and refresh",
          "[eligibility]") {
  auto s = new_slot();
  auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  s.routing.refresh(t0);
  auto p = s.routing.admit(t0);
  REQUIRE(p.admitted);
  s.routing.record(p, call_result::failure, 1ms, t0);
  CHECK(s.routing.circuit() == circuit_state::open);
  CHECK(s.routing.flags().has(health_flag::circuit_open));
  // Its open time is over, but nothing changes until refresh: asking twice
  // gives the same answer.
  auto later = t0 + 6s;
  CHECK(s.routing.circuit() == circuit_state::open);
  CHECK(s.routing.circuit() == circuit_state::open);
  s.routing.refresh(later);
  CHECK(s.routing.circuit() == circuit_state::half_open);
  CHECK_FALSE(s.routing.flags().has(health_flag::circuit_open));
  CHECK_FALSE(s.routing.flags().has(health_flag::no_trial_slot));
  // The one trial slot taken: no reads, but writes still go.
  auto trial = s.routing.admit(later);
  REQUIRE(trial.trial);
  CHECK(s.routing.flags().has(health_flag::no_trial_slot));
  CHECK(read_blockers.has(health_flag::no_trial_slot));
  CHECK_FALSE(write_blockers.has(health_flag::no_trial_slot));
  // A trial success with half_open_successes = 2 still leaves it half-open,
  // with its slot free again.
  s.routing.record(trial, call_result::success, 1ms, later);
  CHECK(s.routing.circuit() == circuit_state::half_open);
  CHECK_FALSE(s.routing.flags().has(health_flag::no_trial_slot));
}

TEST_CASE("eligibility: saturation is load, not health", "[eligibility]") {
  auto s = new_slot(one_failure_opens(), 1);
  s.routing.call_sent();
  CHECK(s.saturated());
  CHECK_FALSE(read_blockers.has(health_flag::saturated));
  CHECK_FALSE(write_blockers.has(health_flag::saturated));
  s.routing.call_answered();
  CHECK_FALSE(s.saturated());
}

TEST_CASE("eligibility: a replica not in sync takes writes, serves no reads, is no peer",
          "[eligibility]") {
  auto s = new_slot();
  s.replica.state = replica_state::catching_up;
  auto f = s.flags(operation::get);
  CHECK(f.has(health_flag::not_in_sync));
  CHECK(read_blockers.has(health_flag::not_in_sync));
  CHECK(data_blockers.has(health_flag::not_in_sync));
  CHECK_FALSE(write_blockers.has(health_flag::not_in_sync));
}

TEST_CASE("eligibility: an operator hold blocks reads, writes and copies at once",
          "[eligibility]") {
  auto s = new_slot();
  s.routing.hold(true);
  CHECK(s.routing.flags().has(health_flag::held));
  CHECK(read_blockers.has(health_flag::held));
  CHECK(write_blockers.has(health_flag::held));
  CHECK(data_blockers.has(health_flag::held));
  s.routing.hold(false);
  CHECK_FALSE(s.routing.flags().has(health_flag::held));
}
