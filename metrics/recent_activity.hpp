// The last two minutes of activity, one slot per second, for the status page
// (GET /v1/status): per backend, its calls, failures and the p99 of their
// latency; the fallbacks, hedges and outages; and the latest events,
// merged per second and kind. Prometheus keeps the long history; this keeps
// only what a page refreshed every second needs, without a Prometheus.
// Thread-safe; a call costs one uncontended lock.
#pragma once

#include "core/states.hpp"
#include "core/types.hpp"
#include "metrics/metrics.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline {

/// What recent_activity::snapshot returns: per-second series over the
/// window, oldest first, ending with the last complete second.
struct activity_snapshot {
  int64_t now_ms = 0;   ///< Unix time of the snapshot.
  size_t window_s = 0;  ///< Entries in every series.
  struct backend_series {
    std::string name;
    std::vector<double> rps;    ///< Calls answered per second (any outcome).
    std::vector<double> p99_ms; ///< p99 latency of that second's calls (0: none).
    std::vector<double> errors; ///< Calls that failed or timed out.
  };
  std::vector<backend_series> backends;
  std::vector<double> fallbacks, hedges, outages;
  struct event {
    int64_t t_ms = 0; ///< The start of the second it happened in.
    std::string kind; ///< fallback, hedge or outage.
    std::string operation, from, to, reason;
    uint64_t count = 0; ///< How many in that second.
  };
  std::vector<event> events; ///< The latest, oldest first.
};

class recent_activity {
public:
  static constexpr size_t window_s = 120;
  static constexpr size_t max_events = 50;
  using clock_fn = std::function<int64_t()>; ///< Unix milliseconds.

  /// `clock`: the wall clock, injectable for tests.
  explicit recent_activity(clock_fn clock = {});

  void call(std::string_view backend, call_outcome outcome, std::chrono::nanoseconds latency);
  void fallback(operation op, std::string_view from, std::string_view to, fallback_reason r);
  void hedge(operation op, std::string_view to);
  void outage(operation op);

  activity_snapshot snapshot() const;

private:
  /// Latency buckets: bucket i holds calls up to 10 us * 2^(i/2) (the last
  /// one everything above, about 7 s).
  static constexpr size_t buckets = 40;
  struct second_slot {
    int64_t second = -1; ///< Which unix second it holds (-1: none).
    uint64_t calls = 0;
    uint64_t errors = 0;
    std::array<uint32_t, buckets> latency{};
  };
  struct backend_ring {
    std::string name;
    std::array<second_slot, window_s + 1> slots;
  };
  struct counts_slot {
    int64_t second = -1;
    uint64_t fallbacks = 0, hedges = 0, outages = 0;
  };

  second_slot& slot_of(backend_ring& b, int64_t second);
  counts_slot& counts_of(int64_t second);
  void add_event(int64_t second, std::string_view kind, operation op, std::string_view from,
                 std::string_view to, std::string_view reason);
  int64_t now_ms() const;

  clock_fn clock_;
  mutable std::mutex mutex_;
  std::vector<backend_ring> backends_;
  std::array<counts_slot, window_s + 1> counts_;
  std::deque<activity_snapshot::event> events_;
};

} // namespace lifeline
