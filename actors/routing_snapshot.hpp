// The coordinator's routing decision for reads, published as an immutable
// snapshot so that the hot path can follow it without a round trip through
// the coordinator's mailbox (docs/DATABASE_ARCHITECTURE.md, "The path of a
// read"). The coordinator stays the only place where a decision is made: it
// publishes a new snapshot whenever health, circuits, replica states or
// latencies change what it would decide, and it gets back, in batches, the
// outcomes of the reads that followed the snapshot. Anything the snapshot
// does not cover (a failure, a slow answer, a saturated backend, a backend
// that cannot be called directly) goes to the coordinator as a request.
#pragma once

#include "actors/actors.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lifeline {

class backend;
class hedge_budget;

/// The backend the coordinator would give a read of one operation now.
struct direct_route {
  uint32_t slot = 0;                    ///< The coordinator's index of it.
  std::string name;                     ///< Its configured name (X-Served-By).
  std::shared_ptr<backend> store;       ///< Called directly (direct_reads()).
  /// When an unanswered read is sent to the next backend too (its recent
  /// p95 for this operation); zero: no hedge.
  std::chrono::nanoseconds hedge_after{0};
  /// After this long the read counts as failed and falls over (the
  /// coordinator's attempt timeout).
  std::chrono::nanoseconds give_up_after{0};
  uint32_t max_calls = 0; ///< Its bound on calls in flight (0: none).
};

/// One decision for every read operation the hot path takes directly.
struct routing_snapshot {
  uint64_t generation = 0;
  /// Empty: the coordinator must decide (no backend can be called directly
  /// now, or the first choice needs more than a plain call).
  std::vector<direct_route> get;
  std::vector<direct_route> search;
  /// Past this, the routes may not be taken (a cluster follower's read
  /// lease ran out): every read goes to the coordinator.
  std::chrono::steady_clock::time_point valid_until = std::chrono::steady_clock::time_point::max();

  const std::vector<direct_route>& routes(operation op) const {
    return op == operation::search ? search : get;
  }
};

/// The outcome of one read that followed a snapshot, for the coordinator's
/// circuits, latency tracking and metrics.
struct direct_outcome {
  uint32_t slot = 0;
  operation op = operation::get;
  std::chrono::nanoseconds latency{0};
  caf::error err; ///< Empty on success; a client error (not_found) counts as an answer.
  /// Set when this read was hedged and the coordinator's answer, from this
  /// backend, came first (hedges won are counted by the winner).
  std::string hedge_won_by;
  /// A read handed to the coordinator that answered it from this backend
  /// (`slot` is then the one the direct call went to).
  std::string served_by;
  /// This answer is the one the caller got (fallbacks count only those).
  bool delivered = false;
};

/// Where the coordinator publishes snapshots and collects outcomes. Shared
/// by the coordinator and every direct reader; every member is
/// thread-safe.
class routing_board {
public:
  explicit routing_board(size_t slots = 64);

  /// The current snapshot (never null).
  std::shared_ptr<const routing_snapshot> load() const { return current_.load(); }
  void publish(std::shared_ptr<const routing_snapshot> s) { current_.store(std::move(s)); }

  /// Queues an outcome for the coordinator's next drain.
  void report(direct_outcome o);
  /// Takes every queued outcome (the coordinator, periodically).
  std::vector<direct_outcome> drain();

  /// Direct calls in flight to slot `i` (the coordinator keeps its own).
  std::atomic<uint32_t>& in_flight(uint32_t i) { return in_flight_[i % in_flight_.size()]; }

  /// Shared with the coordinator: hedges spend from one budget.
  std::shared_ptr<hedge_budget> budget;

private:
  std::atomic<std::shared_ptr<const routing_snapshot>> current_;
  mutable std::mutex mutex_;
  std::vector<direct_outcome> outcomes_;
  std::vector<std::atomic<uint32_t>> in_flight_;
};

} // namespace lifeline
