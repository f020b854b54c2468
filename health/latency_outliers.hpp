// Outlier ejection on latency, per operation: a backend whose recent p95 for
// an operation is far above the best of its peers' (more than `factor`
// times, and above an absolute `floor`, so two fast backends are never told
// apart by noise) is demoted for that operation's reads: it is tried last.
// It is promoted back once its p95 is below factor / 2 times the best
// peer's (or below floor / 2), or once it has too few fresh samples to
// judge (no evidence is no outlier): the gap between the two thresholds
// keeps a backend near the line from flapping. The tail quantile, not the
// median: a backend that stalls now and then (a database frozen 300 ms every
// 1.5 s) keeps a fast median while it stretches every tail; hedging covers
// rare slowness, demotion the frequent kind. Pure logic, no clock.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

namespace lifeline {

struct latency_outlier_config {
  using duration = std::chrono::steady_clock::duration;
  /// Demote above this many times the best peer's p95 (0: never demote).
  double factor = 5;
  /// ...and only above this p95.
  duration floor = std::chrono::milliseconds(20);
};

/// One backend's standing for one operation, as the policy sees it.
struct latency_standing {
  /// It may serve this read now (in sync, healthy): only such peers count.
  bool eligible = false;
  /// Its recent p95; nullopt with too few fresh samples.
  std::optional<std::chrono::steady_clock::duration> p95;
  /// Demoted now (the state the policy updates).
  bool demoted = false;
};

/// Updates `demoted` of every backend in `peers` (one operation); returns
/// the indexes whose state changed.
std::vector<size_t> update_demotions(std::vector<latency_standing>& peers,
                                     const latency_outlier_config& cfg);

} // namespace lifeline
