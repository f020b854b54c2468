// When the vector store tries a failing maintenance step (a snapshot) again:
// capped exponential back-off, and which failures are worth a log line. A
// full disk used to make the store retry its snapshot every 500 ms and log
// every attempt; now the delay doubles up to a cap and the log line comes
// at the 1st, 2nd, 4th, 8th, ... failure. Pure logic with the time passed
// in, so tests drive it without sleeping. (health/restart_policy is the
// supervisor's; backends/ may not include health/, and this needs neither
// jitter nor an intensity limit.) No CAF in here.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace lifeline::hnsw {

class retry_backoff {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  retry_backoff(duration initial, duration cap)
    : initial_(std::max(initial, duration{1})), cap_(std::max(cap, initial_)) {}

  /// May the step be tried at `now`? (Always, unless it failed lately.)
  bool due(time_point now) const { return failures_ == 0 || now >= next_; }

  /// The step failed at `now`: the next try waits initial, 2 initial, 4
  /// initial, ... at most cap. True if this failure deserves a log line
  /// (the 1st, 2nd, 4th, 8th, ...: the log does not repeat every attempt).
  bool failed(time_point now) {
    ++failures_;
    delay_ = failures_ == 1 ? initial_ : std::min(cap_, delay_ * 2);
    next_ = now + delay_;
    return (failures_ & (failures_ - 1)) == 0;
  }

  /// The step succeeded: the failures so far (0 if none), then forgotten.
  uint64_t succeeded() {
    auto n = failures_;
    failures_ = 0;
    delay_ = duration{0};
    return n;
  }

  uint64_t failures() const { return failures_; }
  /// The wait after the last failure (0 if none).
  duration delay() const { return delay_; }
  time_point next_attempt() const { return next_; }

private:
  duration initial_;
  duration cap_;
  uint64_t failures_ = 0;
  duration delay_{0};
  time_point next_{};
};

} // namespace lifeline::hnsw
