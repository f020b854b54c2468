#include "health/restart_policy.hpp"

#include <algorithm>
#include <cmath>

namespace lifeline {

restart_policy::restart_policy(restart_config cfg, uint64_t seed) : cfg_(cfg), rng_(seed) {
  cfg_.jitter = std::clamp(cfg_.jitter, 0.0, 1.0);
  cfg_.multiplier = std::max(cfg_.multiplier, 1.0);
}

restart_policy::duration restart_policy::base_delay(uint32_t attempt) const {
  if (attempt == 0) return duration::zero();
  double factor = std::pow(cfg_.multiplier, double(attempt - 1));
  double ticks = double(cfg_.initial_backoff.count()) * factor;
  if (!std::isfinite(ticks) || ticks >= double(cfg_.max_backoff.count()))
    return cfg_.max_backoff;
  return duration{static_cast<duration::rep>(ticks)};
}

restart_policy::decision restart_policy::on_crash(time_point now) {
  while (!crashes_.empty() && now - crashes_.front() >= cfg_.window) crashes_.pop_front();
  crashes_.push_back(now);
  decision d;
  d.attempt = static_cast<uint32_t>(crashes_.size());
  if (d.attempt > cfg_.max_restarts) {
    d.give_up = true;
    return d;
  }
  auto base = base_delay(d.attempt);
  std::uniform_real_distribution<double> dist{1.0 - cfg_.jitter, 1.0 + cfg_.jitter};
  d.delay = duration{static_cast<duration::rep>(double(base.count()) * dist(rng_))};
  return d;
}

} // namespace lifeline
