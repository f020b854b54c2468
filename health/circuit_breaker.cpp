#include "health/circuit_breaker.hpp"

#include <algorithm>

namespace lifeline {

circuit_breaker::circuit_breaker(circuit_breaker_config cfg) : cfg_(cfg) {
  cfg_.window_size = std::max<uint32_t>(cfg_.window_size, 1);
  cfg_.half_open_trials = std::max<uint32_t>(cfg_.half_open_trials, 1);
  cfg_.half_open_successes = std::max<uint32_t>(cfg_.half_open_successes, 1);
  window_.reserve(cfg_.window_size);
}

circuit_state circuit_breaker::state(time_point now) {
  if (state_ == circuit_state::open && now >= reopens_at())
    transition(circuit_state::half_open, now);
  return state_;
}

bool circuit_breaker::would_admit(time_point now) {
  switch (state(now)) {
    case circuit_state::closed: return true;
    case circuit_state::open: return false;
    case circuit_state::half_open: return trials_in_flight_ < cfg_.half_open_trials;
  }
  return false;
}

permit circuit_breaker::acquire(time_point now) {
  if (!would_admit(now)) return {};
  if (state_ == circuit_state::half_open) {
    ++trials_in_flight_;
    return {true, true};
  }
  return {true, false};
}

std::optional<circuit_state> circuit_breaker::record(permit p, call_result result,
                                                     duration latency, time_point now) {
  if (!p.admitted) return std::nullopt;
  bool failed = result != call_result::success;
  if (p.trial) {
    // Only trials decide a half-open circuit; a trial from an earlier
    // half-open period (the circuit has since reopened) tells nothing new.
    if (state_ != circuit_state::half_open) return std::nullopt;
    trials_in_flight_ = trials_in_flight_ > 0 ? trials_in_flight_ - 1 : 0;
    if (failed) return transition(circuit_state::open, now);
    if (++trial_successes_ >= cfg_.half_open_successes)
      return transition(circuit_state::closed, now);
    return std::nullopt;
  }
  // A call admitted while closed that finishes after the circuit opened is
  // stale: the circuit already acted on fresher evidence.
  if (state_ != circuit_state::closed) return std::nullopt;
  if (result == call_result::connection_failure) return transition(circuit_state::open, now);
  bool slow = latency >= cfg_.slow_call_duration;
  uint8_t entry = uint8_t((failed ? 1 : 0) | (slow ? 2 : 0));
  if (window_.size() < cfg_.window_size) {
    window_.push_back(entry);
  } else {
    window_[window_next_] = entry;
    window_next_ = (window_next_ + 1) % cfg_.window_size;
  }
  consecutive_failures_ = failed ? consecutive_failures_ + 1 : 0;
  if (consecutive_failures_ >= cfg_.consecutive_failures || window_trips())
    return transition(circuit_state::open, now);
  return std::nullopt;
}

std::optional<circuit_state> circuit_breaker::record_probe(call_result result, time_point now) {
  auto current = state(now);
  if (result == call_result::success) {
    consecutive_probe_failures_ = 0;
    if (current == circuit_state::open) return transition(circuit_state::half_open, now);
    return std::nullopt;
  }
  ++consecutive_probe_failures_;
  if (current == circuit_state::open) return std::nullopt;
  if (result == call_result::connection_failure
      || consecutive_probe_failures_ >= cfg_.probe_failures)
    return transition(circuit_state::open, now);
  return std::nullopt;
}

std::optional<circuit_state> circuit_breaker::reset() {
  consecutive_probe_failures_ = 0;
  clear_history(); // also when it is closed already: a fresh start
  return transition(circuit_state::closed, time_point{});
}

bool circuit_breaker::window_trips() const {
  if (window_.size() < cfg_.minimum_calls) return false;
  size_t failures = 0;
  size_t slow = 0;
  for (auto e : window_) {
    failures += e & 1;
    slow += (e >> 1) & 1;
  }
  auto n = double(window_.size());
  return failures / n >= cfg_.failure_rate || slow / n >= cfg_.slow_call_rate;
}

void circuit_breaker::clear_history() {
  window_.clear();
  window_next_ = 0;
  consecutive_failures_ = 0;
  trials_in_flight_ = 0;
  trial_successes_ = 0;
}

std::optional<circuit_state> circuit_breaker::transition(circuit_state to, time_point now) {
  if (to == state_) return std::nullopt;
  state_ = to;
  clear_history();
  if (to == circuit_state::open) opened_at_ = now;
  if (to == circuit_state::closed) consecutive_probe_failures_ = 0;
  return to;
}

} // namespace lifeline
