// The hot path for reads: a get or a search follows the coordinator's
// routing snapshot (routing_snapshot.hpp) and calls the chosen backend
// directly, from the caller's thread, without a mailbox or a thread hand-off
// on the way (the backend answers in place from memory, or from its own
// event loop). The coordinator keeps every decision:
// - what the snapshot says (which backend, when to hedge, when to give up);
// - every read the snapshot does not settle: a failure, a damaged copy, a
//   read past its hedge delay (sent to the coordinator too, first answer
//   wins) or past its attempt timeout, a backend at its bound. Those are
//   handed to the coordinator as a request that skips what was tried.
// Outcomes go back to the coordinator in batches, for its circuits,
// latency tracking and metrics.
#pragma once

#include "actors/actors.hpp"
#include "actors/hedge_timer.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace lifeline {

class routing_board;

class direct_reads {
public:
  template <class T>
  using reply = std::function<void(caf::expected<served<T>>)>;
  /// Runs a job on an actor that can send requests to the coordinator
  /// (coordinator_client::submit, or an embedder's own bridge).
  using job = std::function<void(caf::event_based_actor* self, const coordinator_actor& c)>;
  using submit_fn = std::function<void(job)>;

  /// `timeout`: the whole read's deadline, as for a request to the
  /// coordinator.
  direct_reads(std::shared_ptr<routing_board> board, submit_fn submit,
               std::chrono::milliseconds timeout);
  /// Calls stop() and stops the timer; reads still running answer through
  /// their callbacks.
  ~direct_reads();
  direct_reads(const direct_reads&) = delete;
  direct_reads& operator=(const direct_reads&) = delete;

  /// Thread-safe. `done` runs exactly once, on whichever thread answers
  /// (the caller's, the backend's event loop, the timer or the bridge).
  void get(std::string collection, std::string id, reply<document> done);
  void search(search_query query, reply<std::vector<search_hit>> done);

  /// After this, nothing is handed to the coordinator any more (a read that
  /// would be answers backend_unavailable): call it before the submit
  /// function's target goes away.
  void stop();

  struct shared; ///< What the reads in flight share (direct_reads.cpp).

private:
  std::shared_ptr<shared> shared_;
  std::unique_ptr<hedge_timer> timer_; ///< Declared last: stopped first.
};

} // namespace lifeline
