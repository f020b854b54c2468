// Waiting on a real server's state (recovery runs on its timers): poll a
// condition until it holds, at most a minute. A condition, not a sleep.
#pragma once

#include <chrono>

namespace lifeline::testing {

template <class Pred>
bool eventually(Pred ok, std::chrono::seconds bound = std::chrono::seconds(60)) {
  auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until)
    if (ok()) return true;
  return false;
}

} // namespace lifeline::testing
