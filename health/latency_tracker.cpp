#include "health/latency_tracker.hpp"

#include <algorithm>
#include <cmath>

namespace lifeline {

namespace {

/// The q-quantile of `v` (nearest rank); reorders `v`.
latency_tracker::duration nth(std::vector<latency_tracker::duration>& v, double q) {
  auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  auto k = rank == 0 ? size_t{0} : std::min(rank - 1, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

} // namespace

latency_tracker::latency_tracker(latency_tracker_config cfg) : cfg_(cfg) {
  if (cfg_.capacity == 0) cfg_.capacity = 1;
  if (cfg_.refresh_every == 0) cfg_.refresh_every = 1;
}

void latency_tracker::record(duration latency, time_point now) {
  if (ring_.size() < cfg_.capacity) {
    ring_.push_back({latency, now});
  } else {
    ring_[next_] = {latency, now};
    next_ = (next_ + 1) % ring_.size();
  }
  if (++since_refresh_ >= cfg_.refresh_every) valid_ = false;
}

std::vector<latency_tracker::duration> latency_tracker::fresh_latencies(time_point now) const {
  std::vector<duration> out;
  out.reserve(ring_.size());
  for (auto& s : ring_)
    if (now - s.at <= cfg_.max_age) out.push_back(s.latency);
  return out;
}

std::optional<latency_tracker::duration> latency_tracker::quantile(double q, time_point now) {
  auto v = fresh_latencies(now);
  if (v.empty() || v.size() < cfg_.min_samples) return std::nullopt;
  return nth(v, std::clamp(q, 0.0, 1.0));
}

const latency_tracker::summary& latency_tracker::cached(time_point now) {
  if (valid_ && now - summary_.computed <= cfg_.max_age / 10) return summary_;
  auto v = fresh_latencies(now);
  summary_ = summary{};
  summary_.fresh = v.size();
  summary_.computed = now;
  if (!v.empty() && v.size() >= cfg_.min_samples) {
    summary_.p95 = nth(v, 0.95);
    summary_.p50 = nth(v, 0.5);
  }
  valid_ = true;
  since_refresh_ = 0;
  return summary_;
}

} // namespace lifeline
