// When and whether a supervisor restarts a crashed backend: capped
// exponential backoff with jitter, and a restart-intensity limit (at most
// `max_restarts` within `window`, as in Erlang/OTP supervisors). Pure logic
// with an injected clock and random source.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <random>

namespace lifeline {

struct restart_config {
  using duration = std::chrono::steady_clock::duration;
  duration initial_backoff = std::chrono::milliseconds(100);
  duration max_backoff = std::chrono::seconds(10);
  double multiplier = 2.0;
  /// Each delay is scaled by a random factor in [1 - jitter, 1 + jitter].
  double jitter = 0.2;
  /// The restart-intensity limit: more crashes than this within `window`
  /// and the supervisor gives up (the backend is marked failed).
  uint32_t max_restarts = 5;
  duration window = std::chrono::seconds(60);
  /// How often a failed backend is probed to see if it came back.
  duration failed_probe_interval = std::chrono::seconds(30);
};

class restart_policy {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  struct decision {
    bool give_up = false;
    duration delay{};  ///< Wait this long before restarting (unless give_up).
    uint32_t attempt = 0; ///< Crashes inside the window, this one included.
  };

  explicit restart_policy(restart_config cfg = {}, uint64_t seed = std::random_device{}());

  /// Called when the backend crashed at `now`.
  decision on_crash(time_point now);

  /// Forget past crashes (the backend came back after being failed).
  void reset() { crashes_.clear(); }

  /// The delay before restart number `attempt` (1-based), without jitter.
  duration base_delay(uint32_t attempt) const;

  const restart_config& config() const { return cfg_; }

private:
  restart_config cfg_;
  std::mt19937_64 rng_;
  std::deque<time_point> crashes_;
};

} // namespace lifeline
