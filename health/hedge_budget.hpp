// How many hedged reads may be sent: each read earns a fraction of a token
// (percent / 100), a hedge spends a whole one, and the tokens saved are
// capped, so a burst cannot spend what a long quiet period saved. Hedges are
// extra load on the backends; this bounds it to about `percent` more reads
// (Dean & Barroso, "The Tail at Scale", CACM 2013: hedging after the p95
// cost 2% more requests). Thread-safe (atomics, no lock): the coordinator
// and the direct read path on the HTTP threads share one budget.
#pragma once

#include <atomic>
#include <cstdint>

namespace lifeline {

class hedge_budget {
public:
  /// `percent` of reads may be hedged on average; at most `burst` hedges
  /// are saved up. The budget starts empty.
  explicit hedge_budget(double percent = 5, uint32_t burst = 50);

  /// A read was routed: earns percent / 100 of a token.
  void on_read();
  /// Takes one token for a hedge; false (and nothing taken) if there is none.
  bool try_hedge();
  /// Whole tokens saved now.
  double tokens() const;
  double percent() const { return static_cast<double>(earn_) / 10.0; }

private:
  static constexpr int64_t unit = 1000; ///< Thousandths of a token.
  int64_t earn_;                        ///< Per read, in thousandths.
  int64_t cap_;
  std::atomic<int64_t> milli_{0};
};

} // namespace lifeline
