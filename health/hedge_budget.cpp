#include "health/hedge_budget.hpp"

#include <algorithm>
#include <cmath>

namespace lifeline {

hedge_budget::hedge_budget(double percent, uint32_t burst)
  : earn_(static_cast<int64_t>(std::llround(std::clamp(percent, 0.0, 100.0) * 10.0))),
    cap_(static_cast<int64_t>(std::max<uint32_t>(burst, 1)) * unit) {}

void hedge_budget::on_read() {
  if (earn_ == 0) return;
  auto v = milli_.load(std::memory_order_relaxed);
  while (v < cap_) {
    auto next = std::min(cap_, v + earn_);
    if (milli_.compare_exchange_weak(v, next, std::memory_order_relaxed)) return;
  }
}

bool hedge_budget::try_hedge() {
  auto v = milli_.load(std::memory_order_relaxed);
  while (v >= unit) {
    if (milli_.compare_exchange_weak(v, v - unit, std::memory_order_relaxed)) return true;
  }
  return false;
}

double hedge_budget::tokens() const {
  return static_cast<double>(milli_.load(std::memory_order_relaxed)) / unit;
}

} // namespace lifeline
