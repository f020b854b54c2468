#include "health/latency_outliers.hpp"

namespace lifeline {

std::vector<size_t> update_demotions(std::vector<latency_standing>& peers,
                                     const latency_outlier_config& cfg) {
  using duration = latency_outlier_config::duration;
  std::vector<size_t> changed;
  for (size_t i = 0; i < peers.size(); ++i) {
    auto& me = peers[i];
    // The best p95 among the other eligible backends that can be judged.
    std::optional<duration> best;
    for (size_t j = 0; j < peers.size(); ++j) {
      if (j == i || !peers[j].eligible || !peers[j].p95) continue;
      if (!best || *peers[j].p95 < *best) best = peers[j].p95;
    }
    bool demote = me.demoted;
    if (!me.p95 || !best || cfg.factor <= 0) {
      demote = false; // nothing to judge by, or no peer to prefer
    } else if (!me.demoted) {
      auto limit = std::chrono::duration_cast<duration>(*best * cfg.factor);
      demote = *me.p95 > limit && *me.p95 > cfg.floor;
    } else {
      auto back = std::chrono::duration_cast<duration>(*best * (cfg.factor / 2));
      demote = !(*me.p95 <= back || *me.p95 <= cfg.floor / 2);
    }
    if (demote != me.demoted) {
      me.demoted = demote;
      changed.push_back(i);
    }
  }
  return changed;
}

} // namespace lifeline
