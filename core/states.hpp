// The state enums every layer talks about (a backend's lifecycle, circuit
// and replica state, how a call ended, what happened to a handoff entry),
// each with its names. Health policy, the coordinator, the metrics sinks and
// the API all use these; none of them owns them. No CAF in here.
#pragma once

#include <cstdint>
#include <string_view>

namespace lifeline {

/// A backend's circuit breaker (health/circuit_breaker.hpp).
enum class circuit_state : uint8_t {
  closed = 0,    ///< Calls flow; outcomes are watched.
  open = 1,      ///< Calls are refused at once until open_duration passes.
  half_open = 2, ///< A bounded number of trial calls decide: close or reopen.
};

std::string_view to_string(circuit_state s);

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
  dropped = 3,  ///< Discarded with the whole log (over handoff_limit_mb): rebuilt instead.
};

std::string_view to_string(handoff_event e);

} // namespace lifeline
