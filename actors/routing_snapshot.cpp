#include "actors/routing_snapshot.hpp"

namespace lifeline {

namespace {

/// Outcomes kept for the coordinator at most: if it stops draining (stuck,
/// or stopping), the direct reads do not grow memory without bound. Lost
/// outcomes only thin its statistics; failures reach it with the read.
constexpr size_t max_outcomes = 1 << 16;

} // namespace

routing_board::routing_board(size_t slots)
  : current_(std::make_shared<const routing_snapshot>()), in_flight_(slots) {}

void routing_board::report(direct_outcome o) {
  std::lock_guard<std::mutex> lock{mutex_};
  if (outcomes_.size() < max_outcomes) outcomes_.push_back(std::move(o));
}

std::vector<direct_outcome> routing_board::drain() {
  std::vector<direct_outcome> out;
  std::lock_guard<std::mutex> lock{mutex_};
  out.swap(outcomes_);
  return out;
}

} // namespace lifeline
