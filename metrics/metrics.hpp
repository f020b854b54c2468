// What the coordinator and supervisors count. A small sink interface, so the
// Prometheus exporter (and anything else) only swaps the implementation.
// No CAF in here.
#pragma once

#include "backends/types.hpp"
#include "health/circuit_breaker.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace lifeline {

/// How one call to one backend ended, from the coordinator's point of view.
enum class call_outcome : uint8_t {
  success,      ///< Served.
  client_error, ///< The backend answered with not_found / invalid_argument / conflict.
  failure,      ///< The backend failed; counts against its health.
  timeout,      ///< The backend missed the attempt deadline.
  /// The backend answered, but the document it holds failed a check on read
  /// (corrupt_document): that document's fault, not counted against the
  /// backend's health.
  damaged_document,
};
inline constexpr int call_outcome_count = 5;

std::string_view to_string(call_outcome o);

/// A backend's lifecycle as seen by its supervisor.
enum class lifecycle_state : uint8_t {
  starting = 0,   ///< Spawned, not yet reported up.
  up = 1,         ///< Serving.
  restarting = 2, ///< Crashed; a restart is scheduled (backoff).
  failed = 3,     ///< Gave up after the restart-intensity limit; probed slowly.
  stopped = 4,    ///< Shut down on purpose.
};

std::string_view to_string(lifecycle_state s);

/// Whether a backend holds every acknowledged write (see
/// docs/DATABASE_ARCHITECTURE.md, "No acknowledged write is lost").
enum class replica_state : uint8_t {
  in_sync = 0,     ///< Nothing pending: it serves reads.
  catching_up = 1, ///< Takes writes, replays its handoff log; no reads yet.
  rebuilding = 2,  ///< Takes writes, copies a healthy peer; no reads yet.
};
inline constexpr int replica_state_count = 3;

std::string_view to_string(replica_state s);

/// What happened to entries of a backend's handoff log.
enum class handoff_event : uint8_t {
  appended = 0, ///< A missed write was stored for the backend.
  replayed = 1, ///< A stored write was applied to the backend.
  failed = 2,   ///< Storing a missed write failed: the write was not acknowledged.
};

std::string_view to_string(handoff_event e);

class metrics_sink {
public:
  using duration = std::chrono::steady_clock::duration;
  virtual ~metrics_sink() = default;

  /// One attempt of `op` on `backend` ended with `outcome` after `latency`.
  virtual void backend_call(operation op, std::string_view backend, call_outcome outcome,
                            duration latency) = 0;
  /// A request for `op` moved from a failed backend to the next one.
  virtual void fallback(operation op, std::string_view from, std::string_view to) = 0;
  /// No capable backend was left for `op`: the caller got an outage error.
  virtual void outage(operation op) = 0;
  virtual void lifecycle(std::string_view backend, lifecycle_state state) = 0;
  virtual void circuit(std::string_view backend, circuit_state state) = 0;
  /// The supervisor restarted `backend` after a crash.
  virtual void restart(std::string_view backend) = 0;
  /// Requests admitted by the coordinator and not yet answered (+1 / -1).
  virtual void in_flight(operation op, int delta) = 0;
  /// The backend's replica state changed.
  virtual void replica(std::string_view /*backend*/, replica_state /*state*/) {}
  /// `n` handoff entries of `backend` were appended, replayed or lost.
  virtual void handoff(std::string_view /*backend*/, handoff_event /*event*/, uint64_t /*n*/) {}
  /// Entries in the backend's handoff log now.
  virtual void handoff_pending(std::string_view /*backend*/, uint64_t /*pending*/) {}
  /// A rebuild copied `n` more documents to `backend`.
  virtual void rebuild_copied(std::string_view /*backend*/, uint64_t /*n*/) {}
  /// A rebuild of `backend` skipped `n` documents of its peer: the backend
  /// refused them as invalid, or they failed a check (a non-finite vector).
  virtual void rebuild_skipped(std::string_view /*backend*/, uint64_t /*n*/) {}
  /// A request not sent to `backend` because it was at its bound of calls
  /// in flight (the request went elsewhere, or was shed).
  virtual void shed(operation /*op*/, std::string_view /*backend*/) {}
};

/// Discards everything.
class null_metrics final : public metrics_sink {
public:
  void backend_call(operation, std::string_view, call_outcome, duration) override {}
  void fallback(operation, std::string_view, std::string_view) override {}
  void outage(operation) override {}
  void lifecycle(std::string_view, lifecycle_state) override {}
  void circuit(std::string_view, circuit_state) override {}
  void restart(std::string_view) override {}
  void in_flight(operation, int) override {}
};

} // namespace lifeline
