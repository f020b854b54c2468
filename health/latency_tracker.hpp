// Recent latency of one backend for one operation: a ring of the last
// `capacity` successful calls with their times, so quantiles describe the
// backend as it is now (samples older than `max_age` no longer count, and a
// window with fewer than `min_samples` fresh ones says nothing). Hedged
// reads wait the serving backend's p95 before asking a peer, and outlier
// demotion compares these quantiles between peers. Pure logic with an
// injected clock; not thread-safe (the coordinator owns its trackers).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace lifeline {

struct latency_tracker_config {
  using duration = std::chrono::steady_clock::duration;
  /// Samples kept (the newest); older ones are overwritten.
  uint32_t capacity = 256;
  /// Fewer fresh samples than this: no quantile (too little to judge by).
  uint32_t min_samples = 20;
  /// Samples older than this are not counted.
  duration max_age = std::chrono::seconds(10);
  /// Quantiles are recomputed after this many new samples (or once a tenth
  /// of max_age has passed): a sort per read would cost more than the read's
  /// routing. 1 recomputes on every sample (tests).
  uint32_t refresh_every = 16;
};

class latency_tracker {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  explicit latency_tracker(latency_tracker_config cfg = {});

  /// One call took `latency`, finishing at `now`.
  void record(duration latency, time_point now);
  /// The q-quantile (0..1) of the fresh samples, or nullopt with too few.
  /// Only 0.5 and 0.95 are cached; other q sort on every call.
  std::optional<duration> quantile(double q, time_point now);
  std::optional<duration> p50(time_point now) { return cached(now).p50; }
  std::optional<duration> p95(time_point now) { return cached(now).p95; }
  /// Enough fresh samples to judge by.
  bool enough(time_point now) { return cached(now).p50.has_value(); }
  /// Fresh samples (as of the last recomputation).
  size_t fresh(time_point now) { return cached(now).fresh; }
  const latency_tracker_config& config() const { return cfg_; }

private:
  struct sample {
    duration latency{};
    time_point at{};
  };
  struct summary {
    std::optional<duration> p50, p95;
    size_t fresh = 0;
    time_point computed{};
  };
  const summary& cached(time_point now);
  std::vector<duration> fresh_latencies(time_point now) const;

  latency_tracker_config cfg_;
  std::vector<sample> ring_;
  size_t next_ = 0;
  uint64_t since_refresh_ = 0;
  bool valid_ = false;
  summary summary_;
};

} // namespace lifeline
