// Per-backend circuit breaker: closed / open / half-open. Pure logic with an
// injected clock (callers pass `now`), so it is unit-tested exhaustively and
// behaves the same under CAF's deterministic test scheduler.
#pragma once

#include "core/states.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace lifeline {

enum class call_result : uint8_t {
  success,            ///< The backend answered (a client error is an answer too).
  failure,            ///< The backend failed or missed the deadline.
  connection_failure, ///< Refused/reset/not connected: certain, opens at once.
};

struct circuit_breaker_config {
  using duration = std::chrono::steady_clock::duration;
  /// Open after this many consecutive failures.
  uint32_t consecutive_failures = 5;
  /// Sliding window over the last `window_size` calls...
  uint32_t window_size = 20;
  /// ...evaluated once it holds at least this many calls...
  uint32_t minimum_calls = 10;
  /// ...opens when the share of failures reaches this...
  double failure_rate = 0.5;
  /// ...or the share of calls slower than `slow_call_duration` reaches this.
  double slow_call_rate = 0.8;
  duration slow_call_duration = std::chrono::seconds(2);
  /// How long an open circuit refuses calls before admitting trials.
  duration open_duration = std::chrono::seconds(5);
  /// Trial calls admitted at once while half-open.
  uint32_t half_open_trials = 2;
  /// Consecutive trial successes that close the circuit.
  uint32_t half_open_successes = 2;
  /// Consecutive failed probes that open a closed circuit (a connection-level
  /// probe failure opens it at once).
  uint32_t probe_failures = 2;
};

/// Admission ticket for one call: pass it back to record().
struct permit {
  bool admitted = false;
  /// True if this call is one of the half-open trials.
  bool trial = false;
};

class circuit_breaker {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  explicit circuit_breaker(circuit_breaker_config cfg = {});

  /// The state at `now` (an open circuit turns half-open once open_duration
  /// has passed).
  circuit_state state(time_point now);

  /// Asks to send one call. Refused while open, and while half-open once all
  /// trial slots are taken.
  permit acquire(time_point now);

  /// Would acquire() admit a call now? Does not take a trial slot.
  bool would_admit(time_point now);

  /// Records the outcome of a call admitted by `p`. Returns the new state if
  /// this outcome changed it.
  std::optional<circuit_state> record(permit p, call_result result, duration latency,
                                      time_point now);

  /// Records an active health probe. A successful probe moves an open
  /// circuit to half-open (trial traffic then confirms the recovery).
  std::optional<circuit_state> record_probe(call_result result, time_point now);

  /// Back to closed with an empty history (e.g. after a backend restart).
  std::optional<circuit_state> reset();

  /// Time when an open circuit admits trials again.
  time_point reopens_at() const { return opened_at_ + cfg_.open_duration; }

private:
  std::optional<circuit_state> transition(circuit_state to, time_point now);
  void clear_history();
  bool window_trips() const;

  circuit_breaker_config cfg_;
  circuit_state state_ = circuit_state::closed;
  time_point opened_at_{};
  uint32_t consecutive_failures_ = 0;
  uint32_t consecutive_probe_failures_ = 0;
  uint32_t trials_in_flight_ = 0;
  uint32_t trial_successes_ = 0;
  // Ring buffer of the last calls: bit 0 = failed, bit 1 = slow.
  std::vector<uint8_t> window_;
  size_t window_next_ = 0;
};

} // namespace lifeline
