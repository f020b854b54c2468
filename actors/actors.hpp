// The Lifeline actor protocol: every atom, message type and typed actor
// interface in one place. Include this (not caf/all.hpp) to talk to the
// coordinator; spawn functions live in the headers next to it.
//
//   supervisor --spawns/monitors--> backend actor (pool of worker actors)
//   supervisor --lifecycle_event--> coordinator
//   coordinator --requests--> backend actors (reads: priority order with
//                              fallback; writes: fan-out to all healthy)
//   application --requests--> coordinator
#pragma once

#include "actors/errors.hpp"
#include "backends/types.hpp"
#include "health/circuit_breaker.hpp"
#include "metrics/metrics.hpp"

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lifeline {

// -- atoms (CAF 0.17: at most 10 characters) --------------------------------

using create_atom = caf::atom_constant<caf::atom("create")>;
using drop_atom = caf::atom_constant<caf::atom("drop")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using upsert_atom = caf::atom_constant<caf::atom("upsert")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using remove_atom = caf::atom_constant<caf::atom("remove")>;
using search_atom = caf::atom_constant<caf::atom("search")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
using lifecycle_atom = caf::atom_constant<caf::atom("lifecycle")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using ok_atom = caf::atom_constant<caf::atom("ok")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;

// -- the backend actor --------------------------------------------------------

/// One database client, wrapped by a pool of worker actors (see
/// backend_actor.hpp). Each handler calls the matching `backend` method on a
/// worker, so blocking I/O never stalls CAF's scheduler. Failures come back as
/// `errc` errors; a worker that throws or returns data that fails an
/// invariant replies with an error and then crashes (its supervisor restarts
/// it).
using backend_actor = caf::typed_actor<
  /// Create a collection (identical re-create is ok; another spec: conflict).
  caf::replies_to<create_atom, collection_spec>::with<ok_atom>,
  /// Drop a collection by name.
  caf::replies_to<drop_atom, std::string>::with<ok_atom>,
  /// List every collection.
  caf::replies_to<list_atom>::with<std::vector<collection_spec>>,
  /// Spec and document count of one collection.
  caf::replies_to<stats_atom, std::string>::with<collection_stats>,
  /// Insert or replace documents in a collection (all or nothing).
  caf::replies_to<upsert_atom, std::string, std::vector<document>>::with<ok_atom>,
  /// Fetch one document: (collection, id).
  caf::replies_to<get_atom, std::string, std::string>::with<document>,
  /// Delete one document: (collection, id).
  caf::replies_to<remove_atom, std::string, std::string>::with<ok_atom>,
  /// k nearest neighbours, nearest first.
  caf::replies_to<search_atom, search_query>::with<std::vector<search_hit>>,
  /// Cheap liveness check of the store behind the backend.
  caf::replies_to<probe_atom>::with<ok_atom>>;

// -- lifecycle and health -----------------------------------------------------

/// A supervisor tells the coordinator about every lifecycle transition of its
/// backend, with the handle to use while it is up.
struct lifecycle_event {
  std::string backend;              ///< Configured name, e.g. "postgres".
  std::string kind;                 ///< backend::kind(), e.g. "memory".
  lifecycle_state state = lifecycle_state::starting;
  std::string reason;               ///< Why it left `up` (empty when up).
  uint32_t capabilities = 0;        ///< capabilities::bits().
  uint32_t preferred = 0;           ///< backend::preferred().bits().
  uint32_t restarts = 0;            ///< Restarts since the process started.
  backend_actor handle;             ///< Valid only while state == up.
};

/// One backend as the coordinator sees it right now.
struct backend_health {
  std::string name;
  std::string kind;
  lifecycle_state lifecycle = lifecycle_state::starting;
  circuit_state circuit = circuit_state::closed;
  std::string last_error;
  int64_t since_unix_ms = 0;        ///< When lifecycle or circuit last changed.
  uint32_t restarts = 0;
  /// True if the coordinator would route a read to it now.
  bool serving = false;
};

struct health_report {
  std::vector<backend_health> backends;
  /// Number of backends that would serve a read now.
  size_t serving() const;
};

// -- the coordinator ----------------------------------------------------------

/// How a write ended on one backend.
enum class write_outcome : uint8_t {
  applied = 0, ///< The backend acknowledged the write.
  failed = 1,  ///< It was sent and failed (error says why).
  skipped = 2, ///< Not sent: the backend was down or its circuit open.
};

std::string_view to_string(write_outcome o);

struct backend_write {
  std::string backend;
  write_outcome outcome = write_outcome::failed;
  std::string error;
};

/// The reply to every write: what happened on each backend. A write that
/// reaches no backend is an error instead (all_backends_unavailable).
struct write_receipt {
  std::vector<backend_write> backends;
  size_t applied() const;
};

/// The reply to every read: the value and the backend that served it.
template <class T>
struct served {
  std::string backend;
  T value;
};

/// The one place that decides where requests go. Reads go to the first
/// healthy capable backend in priority order and fall over to the next one
/// within the request deadline; writes fan out to every healthy capable
/// backend. With no capable backend left it answers all_backends_unavailable
/// at once, naming every backend and its last failure.
using coordinator_actor = caf::typed_actor<
  caf::replies_to<create_atom, collection_spec>::with<write_receipt>,
  caf::replies_to<drop_atom, std::string>::with<write_receipt>,
  caf::replies_to<upsert_atom, std::string, std::vector<document>>::with<write_receipt>,
  caf::replies_to<remove_atom, std::string, std::string>::with<write_receipt>,
  caf::replies_to<list_atom>::with<served<std::vector<collection_spec>>>,
  caf::replies_to<stats_atom, std::string>::with<served<collection_stats>>,
  caf::replies_to<get_atom, std::string, std::string>::with<served<document>>,
  caf::replies_to<search_atom, search_query>::with<served<std::vector<search_hit>>>,
  /// Every backend's lifecycle, circuit and last error.
  caf::replies_to<health_atom>::with<health_report>,
  /// Replies once every backend has reported its first lifecycle state
  /// (up, or why not): until then a request may find a backend `starting`.
  caf::replies_to<ready_atom>::with<health_report>,
  /// From supervisors: a backend changed lifecycle state.
  caf::reacts_to<lifecycle_atom, lifecycle_event>,
  /// Internal timer: run the active health probe of backend #index.
  caf::reacts_to<probe_atom, uint32_t>,
  /// Internal timer: fail over the attempts whose deadline has passed.
  caf::reacts_to<deadline_atom>>;

// -- the supervisor -----------------------------------------------------------

/// Owns one backend actor: spawns it, restarts it with backoff when it
/// crashes, gives up after the restart-intensity limit and then probes it
/// slowly until it comes back.
using supervisor_actor = caf::typed_actor<
  /// Internal timer: (re)start the backend now.
  caf::reacts_to<restart_atom>,
  /// The current lifecycle (as last reported to the coordinator).
  caf::replies_to<status_atom>::with<lifecycle_event>>;

// -- inspection (serialisation and to_string for the types above) ------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, collection_spec& x) {
  return f(caf::meta::type_name("collection_spec"), x.name, x.dimension, x.metric);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, document& x) {
  return f(caf::meta::type_name("document"), x.id, x.vector, x.content, x.metadata, x.version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_query& x) {
  return f(caf::meta::type_name("search_query"), x.collection, x.vector, x.k, x.ef);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, search_hit& x) {
  return f(caf::meta::type_name("search_hit"), x.id, x.distance, x.content, x.metadata);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, collection_stats& x) {
  return f(caf::meta::type_name("collection_stats"), x.spec, x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lifecycle_event& x) {
  return f(caf::meta::type_name("lifecycle_event"), x.backend, x.kind, x.state, x.reason,
           x.capabilities, x.preferred, x.restarts, x.handle);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backend_health& x) {
  return f(caf::meta::type_name("backend_health"), x.name, x.kind, x.lifecycle, x.circuit,
           x.last_error, x.since_unix_ms, x.restarts, x.serving);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, health_report& x) {
  return f(caf::meta::type_name("health_report"), x.backends);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backend_write& x) {
  return f(caf::meta::type_name("backend_write"), x.backend, x.outcome, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_receipt& x) {
  return f(caf::meta::type_name("write_receipt"), x.backends);
}

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, served<T>& x) {
  return f(caf::meta::type_name("served"), x.backend, x.value);
}

} // namespace lifeline
