// PLACEHOLDER until the hedging work lands: the interface direct reads use.
#pragma once

#include <atomic>

namespace lifeline {

class hedge_budget {
public:
  void on_read() {}
  bool try_hedge() { return false; }
};

} // namespace lifeline
