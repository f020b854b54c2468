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
#include "core/types.hpp"
#include "health/circuit_breaker.hpp"
#include "metrics/metrics.hpp"
#include "replication/handoff_log.hpp"

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lifeline {

class backend; // backends/backend.hpp

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
using scan_atom = caf::atom_constant<caf::atom("scan")>;
using purge_atom = caf::atom_constant<caf::atom("purge")>;
using marker_atom = caf::atom_constant<caf::atom("marker")>;
using append_atom = caf::atom_constant<caf::atom("append")>;
using peek_atom = caf::atom_constant<caf::atom("peek")>;
using consume_atom = caf::atom_constant<caf::atom("consume")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using recovered_atom = caf::atom_constant<caf::atom("recovered")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using hold_atom = caf::atom_constant<caf::atom("hold")>;
using ceiling_atom = caf::atom_constant<caf::atom("ceiling")>;
using versions_atom = caf::atom_constant<caf::atom("versions")>;
using digest_atom = caf::atom_constant<caf::atom("digest")>;
using repair_atom = caf::atom_constant<caf::atom("repair")>;
using routes_atom = caf::atom_constant<caf::atom("routes")>;
using leader_atom = caf::atom_constant<caf::atom("leader")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using lease_atom = caf::atom_constant<caf::atom("lease")>;

// -- the backend actor --------------------------------------------------------

/// One database client, wrapped by a pool of worker actors (see
/// backend_actor.hpp). Each handler calls the matching `backend` method on a
/// worker, so blocking I/O never stalls CAF's scheduler. Failures come back as
/// `errc` errors; a worker that throws or returns data that fails an
/// invariant replies with an error and then crashes (its supervisor restarts
/// it).
using backend_actor = caf::typed_actor<
  /// Create a collection: true if this call created it, false if an
  /// identical one existed (also a success); another spec: conflict.
  caf::replies_to<create_atom, collection_spec>::with<bool>,
  /// Drop a collection by name.
  caf::replies_to<drop_atom, std::string>::with<ok_atom>,
  /// List every collection.
  caf::replies_to<list_atom>::with<std::vector<collection_spec>>,
  /// Spec and document count of one collection.
  caf::replies_to<stats_atom, std::string>::with<collection_stats>,
  /// Insert or replace documents in a collection (all or nothing).
  caf::replies_to<upsert_atom, std::string, std::vector<document>>::with<ok_atom>,
  /// Fetch one live document: (collection, id).
  caf::replies_to<get_atom, std::string, std::string>::with<document>,
  /// Delete one document, leaving a tombstone: (collection, id, version).
  /// True if a live document was deleted.
  caf::replies_to<remove_atom, std::string, std::string, uint64_t>::with<bool>,
  /// k nearest neighbours, nearest first.
  caf::replies_to<search_atom, search_query>::with<std::vector<search_hit>>,
  /// Cheap liveness check of the store behind the backend.
  caf::replies_to<probe_atom>::with<ok_atom>,
  /// One page of live documents in id order (rebuilds and checks).
  caf::replies_to<scan_atom, scan_request>::with<std::vector<document>>,
  /// Every stored id of a range, tombstones included, with versions (repair).
  caf::replies_to<versions_atom, range_request>::with<std::vector<version_entry>>,
  /// The digest of the same range (repair compares these first).
  caf::replies_to<digest_atom, range_request>::with<range_digest>,
  /// Forget tombstones up to a version; replies how many.
  caf::replies_to<purge_atom, uint64_t>::with<uint64_t>,
  /// The replica marker stored with the data ("" if none).
  caf::replies_to<marker_atom>::with<std::string>,
  /// Store a new replica marker with the data.
  caf::replies_to<marker_atom, std::string>::with<ok_atom>>;

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
  /// The store itself, for direct reads (routing_snapshot.hpp), while up and
  /// in this process only: it is not serialized, so a remote backend has none.
  std::shared_ptr<lifeline::backend> store;
};

/// A read that the direct path (direct_reads.hpp) hands to the coordinator.
struct read_escalation {
  uint64_t tried = 0;     ///< Bit i: slot i was already tried directly.
  int32_t failed = -1;    ///< The slot whose failure `err` is, or -1.
  caf::error err;         ///< Its failure (corrupt_document: its copy is damaged).
  int64_t latency_ns = 0; ///< How long that slot took to fail.
  bool hedge = false;     ///< The first call still runs: this is a hedge.
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
  /// Whether it holds every acknowledged write (only in_sync ones serve reads).
  replica_state replica = replica_state::in_sync;
  /// Writes in its handoff log, not yet replayed to it.
  uint64_t pending = 0;
  /// Documents copied to it by the current (or last) rebuild.
  uint64_t rebuilt = 0;
  /// While catching up or rebuilding: entries replayed or documents copied
  /// so far, out of `progress_total` (0: unknown yet), at `progress_rate`
  /// per second since it began; `progress_eta_s` left (-1: unknown).
  uint64_t progress_done = 0;
  uint64_t progress_total = 0;
  double progress_rate = 0;
  double progress_eta_s = -1;
  /// A replicated database (postgres): its primary and standbys, when
  /// has_database (backend::database()).
  bool has_database = false;
  database_status database;
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
  skipped = 2,  ///< Not sent and not kept: there is no handoff log.
  deferred = 3, ///< Stored in its handoff log; applied when it is back.
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
  /// The version the coordinator gave the write (0 for collection writes).
  uint64_t version = 0;
  /// Whether the write changed something, as the backends that applied it
  /// answered, or-ed together. remove: a live document was deleted (on some
  /// backend); create: some backend created the collection (false: an
  /// identical one existed on every backend that applied it).
  bool changed = false;
  /// create: some backend created the collection (201, not 200).
  bool created() const { return changed; }
  /// remove: some backend deleted a live document (else 404).
  bool deleted() const { return changed; }
  size_t applied() const;
};

// -- consistency checks -------------------------------------------------------

/// One collection compared across backends.
struct collection_check {
  std::string collection;
  /// Live documents per compared backend (same order as the report's).
  std::vector<uint64_t> counts;
  /// Ids some compared backend lacks, and ids held at different versions.
  uint64_t missing = 0;
  uint64_t mismatched = 0;
  /// Of those, the ones a repair made equal (copies, tombstones and the
  /// collection itself; 0 for a check without repair).
  uint64_t repaired = 0;
  /// The first few differences, readable ("id 'a': postgres v3, hnsw missing").
  std::vector<std::string> examples;
  bool consistent() const { return missing == 0 && mismatched == 0; }
};

/// What `lifeline check` reports: every collection of every backend that is
/// up, compared by count and then by ids and versions.
struct consistency_report {
  std::vector<std::string> backends;     ///< Compared, in this order.
  std::vector<std::string> not_compared; ///< "name: why" (down, ...).
  std::vector<collection_check> collections;
  std::string error;                     ///< Set if the check itself failed.
  bool consistent() const;
  /// Differences found (missing + mismatched over every collection).
  uint64_t differences() const;
  /// Differences a repair made equal.
  uint64_t repaired() const;
};

/// How far a check job is (actors/checker.hpp), sent by the checker to the
/// coordinator as it goes.
struct check_progress {
  uint64_t collections_done = 0;
  uint64_t collections_total = 0;
  uint64_t ranges = 0;      ///< Id ranges compared.
  uint64_t ids = 0;         ///< Ids compared (in ranges whose digests matched, or merged).
  uint64_t differences = 0; ///< Ids (and collections) found different.
  uint64_t repaired = 0;    ///< Of those, made equal by repair.
};

/// A check job as `GET /v1/admin/check/<id>` shows it.
struct check_status {
  uint64_t id = 0;
  bool repair = false;     ///< It copies the newer versions, not only compares.
  bool background = false; ///< Started by the repair timer, not by a request.
  bool done = false;
  int64_t started_unix_ms = 0;
  int64_t finished_unix_ms = 0;
  check_progress progress;
  consistency_report report; ///< Meaningful once done.
};

/// A cluster leader's read lease for one follower (coordinator_leases.cpp):
/// the replicas it vouches for (they hold every acknowledged write), for
/// `lease_ms` counted from when the follower asked.
struct replica_lease {
  std::vector<std::string> in_sync;
  int64_t lease_ms = 0;
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
  /// A read the direct path (direct_reads.hpp) hands over: it failed, was
  /// slow, or could not be taken directly. Routed as usual, without the
  /// backends it already tried.
  caf::replies_to<get_atom, std::string, std::string, read_escalation>::with<served<document>>,
  caf::replies_to<search_atom, search_query, read_escalation>::with<served<std::vector<search_hit>>>,
  /// Every backend's lifecycle, circuit and last error.
  caf::replies_to<health_atom>::with<health_report>,
  /// Replies once every backend has reported its first lifecycle state
  /// (up, or why not): until then a request may find a backend `starting`.
  caf::replies_to<ready_atom>::with<health_report>,
  /// Compare the backends that are up (ids and versions, per collection);
  /// replies when done (runs a check job and waits for it).
  caf::replies_to<check_atom>::with<consistency_report>,
  /// Start a check job (true: repair what differs); replies its id at once.
  /// Error overloaded if too many jobs run.
  caf::replies_to<check_atom, bool>::with<uint64_t>,
  /// A check job's status now; not_found for an unknown (or forgotten) id.
  caf::replies_to<status_atom, uint64_t>::with<check_status>,
  /// A check job's status once it is done (the caller bounds the wait).
  caf::replies_to<ready_atom, uint64_t>::with<check_status>,
  /// Operator: restart a backend's actor (its supervisor starts it again).
  caf::replies_to<restart_atom, std::string>::with<ok_atom>,
  /// Operator: (backend, true) stops a backend and keeps it down (its
  /// supervisor reports it `stopped`; reads fall over, writes go to its
  /// handoff log); (backend, false) starts it again. Forwarded to its
  /// supervisor, which replies. Errors: not_found for an unknown name,
  /// backend_unavailable if its supervisor has not reported yet.
  caf::replies_to<hold_atom, std::string, bool>::with<ok_atom>,
  /// From supervisors: a backend changed lifecycle state.
  caf::reacts_to<lifecycle_atom, lifecycle_event>,
  /// A cluster follower (coordinator_config::follower): the write leader's
  /// name and its coordinator, reached over the nodes' network ("" and null
  /// while none is known). Writes go there; so do reads PostgreSQL cannot
  /// serve here.
  caf::reacts_to<leader_atom, std::string, caf::actor>,
  /// A cluster leader: a follower node asks for a read lease (error unless
  /// this coordinator leads).
  caf::replies_to<lease_atom, std::string>::with<replica_lease>,
  /// A cluster follower: stop trusting these replicas now (all if empty);
  /// the leader waits for this before it acknowledges a write they missed.
  caf::replies_to<lease_atom, std::vector<std::string>>::with<ok_atom>,
  /// Internal timers: a follower renews its lease; (true) it checks
  /// whether its lease ran out; a leader looks at the writes waiting for
  /// leases to end.
  caf::reacts_to<lease_atom, bool>,
  /// From recovery jobs: (backend index, job, documents copied so far,
  /// entries pending or ~0 if unknown, entries replayed since last time).
  caf::reacts_to<progress_atom, uint32_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t>,
  /// From recovery jobs: (backend index, job, appended count drained, error).
  caf::reacts_to<recovered_atom, uint32_t, uint64_t, uint64_t, caf::error>,
  /// From the checker: (ticket, report).
  caf::reacts_to<check_atom, uint64_t, consistency_report>,
  /// From the checker: (ticket, progress so far).
  caf::reacts_to<check_atom, uint64_t, check_progress>,
  /// Internal timer: start a background repair round.
  caf::reacts_to<repair_atom>,
  /// Internal timer: take the direct reads' outcomes, publish routes again.
  caf::reacts_to<routes_atom>,
  /// Internal timer: forget tombstones every backend holds.
  caf::reacts_to<purge_atom>,
  /// Internal timer: run the active health probe of backend #index.
  caf::reacts_to<probe_atom, uint32_t>,
  /// Internal timer: store the next version ceiling ahead of need.
  caf::reacts_to<ceiling_atom>,
  /// Internal timer: fail over the attempts whose deadline has passed.
  caf::reacts_to<deadline_atom>>;

// -- the handoff log ----------------------------------------------------------

/// What a handoff log holds when it opens. (The marker the backend held
/// when last in sync is kept by the durable_state actor.)
struct handoff_status {
  uint64_t pending = 0;
  /// Set if the log found at open could not be used (damaged: the message
  /// names the file and byte) and was set aside: the hints in it are lost,
  /// so the backend must be rebuilt from a peer.
  std::string lost;
};

/// A page of the log for a recovery job, with the number of entries ever
/// appended when it was read (to tell whether the log is really drained).
struct handoff_page {
  handoff_batch batch;
  uint64_t appended_total = 0;
};

/// One backend's durable handoff log, on its own thread (every call syncs).
using handoff_actor = caf::typed_actor<
  caf::replies_to<status_atom>::with<handoff_status>,
  /// Store entries durably. Replies the entries ever appended, the number
  /// pending and the number dropped: if non-zero, the log went over its
  /// limit and was discarded whole, these entries included (the backend
  /// must be rebuilt from a peer).
  caf::replies_to<append_atom, std::vector<handoff_entry>>::with<uint64_t, uint64_t, uint64_t>,
  /// The next page, at most n entries, not consumed.
  caf::replies_to<peek_atom, uint32_t>::with<handoff_page>,
  /// Mark a page replayed: (end_offset, entries); replies pending.
  caf::replies_to<consume_atom, uint64_t, uint64_t>::with<uint64_t>>;

// -- the supervisor -----------------------------------------------------------

/// Owns one backend actor: spawns it, restarts it with backoff when it
/// crashes, gives up after the restart-intensity limit and then probes it
/// slowly until it comes back. An operator can hold it down and release it.
using supervisor_actor = caf::typed_actor<
  /// Internal timer: (re)start the backend now, if this timer (its
  /// generation) is still the current one.
  caf::reacts_to<restart_atom, uint64_t>,
  /// Operator: true stops the backend actor and keeps it down (`stopped`,
  /// no restarts, no probes) until released; false starts it again at once
  /// (a fresh actor from the factory, restart policy reset; also ends a
  /// restarting or failed state). Idempotent; a no-op while shutting down.
  caf::replies_to<hold_atom, bool>::with<ok_atom>,
  /// The current lifecycle (as last reported to the coordinator).
  caf::replies_to<status_atom>::with<lifecycle_event>,
  /// Also send every lifecycle event, starting with the current one, to this
  /// actor until it goes (another node's link to this replica).
  caf::reacts_to<watch_atom, caf::actor>,
  /// Report the current lifecycle to the coordinator again (a cluster node
  /// replaces its coordinator when its part in the cluster changes).
  caf::reacts_to<lifecycle_atom>>;

// -- the coordinator's durable state ------------------------------------------

/// Owns the files the coordinator needs across restarts: the version
/// ceiling and each backend's replica marker (see durable_state.hpp). Runs
/// on its own thread, so their fsyncs never stall CAF's shared scheduler.
using durable_state_actor = caf::typed_actor<
  /// The stored version ceiling (0: none yet); an error if it is unreadable.
  caf::replies_to<ceiling_atom>::with<uint64_t>,
  /// Store a ceiling durably; replies it once it is on disk.
  caf::replies_to<ceiling_atom, uint64_t>::with<uint64_t>,
  /// The marker backend `name` held when last in sync ("" if unknown).
  caf::replies_to<marker_atom, std::string>::with<std::string>,
  /// Store backend `name`'s marker durably ("" forgets it).
  caf::replies_to<marker_atom, std::string, std::string>::with<ok_atom>>;

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
typename Inspector::result_type inspect(Inspector& f, scan_request& x) {
  return f(caf::meta::type_name("scan_request"), x.collection, x.after, x.limit, x.with_payload);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, range_request& x) {
  return f(caf::meta::type_name("range_request"), x.collection, x.after, x.up_to, x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, version_entry& x) {
  return f(caf::meta::type_name("version_entry"), x.id, x.version, x.deleted);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, range_digest& x) {
  return f(caf::meta::type_name("range_digest"), x.count, x.hash, x.last);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_entry& x) {
  return f(caf::meta::type_name("handoff_entry"), x.op, x.collection, x.spec, x.docs, x.id,
           x.version);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_batch& x) {
  return f(caf::meta::type_name("handoff_batch"), x.entries, x.end_offset);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_page& x) {
  return f(caf::meta::type_name("handoff_page"), x.batch, x.appended_total);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, handoff_status& x) {
  return f(caf::meta::type_name("handoff_status"), x.pending, x.lost);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, collection_check& x) {
  return f(caf::meta::type_name("collection_check"), x.collection, x.counts, x.missing,
           x.mismatched, x.repaired, x.examples);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_progress& x) {
  return f(caf::meta::type_name("check_progress"), x.collections_done, x.collections_total,
           x.ranges, x.ids, x.differences, x.repaired);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, consistency_report& x) {
  return f(caf::meta::type_name("consistency_report"), x.backends, x.not_compared,
           x.collections, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, check_status& x) {
  return f(caf::meta::type_name("check_status"), x.id, x.repair, x.background, x.done,
           x.started_unix_ms, x.finished_unix_ms, x.progress, x.report);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, read_escalation& x) {
  return f(caf::meta::type_name("read_escalation"), x.tried, x.failed, x.err, x.latency_ns,
           x.hedge);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lifecycle_event& x) {
  return f(caf::meta::type_name("lifecycle_event"), x.backend, x.kind, x.state, x.reason,
           x.capabilities, x.preferred, x.restarts, x.handle);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, standby_status& x) {
  return f(caf::meta::type_name("standby_status"), x.name, x.reachable, x.serving, x.lag_bytes,
           x.lag_seconds, x.reads, x.refused, x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, database_status& x) {
  return f(caf::meta::type_name("database_status"), x.primary, x.primary_reachable, x.timeline,
           x.standbys);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backend_health& x) {
  return f(caf::meta::type_name("backend_health"), x.name, x.kind, x.lifecycle, x.circuit,
           x.last_error, x.since_unix_ms, x.restarts, x.serving, x.replica, x.pending, x.rebuilt,
           x.progress_done, x.progress_total, x.progress_rate, x.progress_eta_s, x.has_database,
           x.database);
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
  return f(caf::meta::type_name("write_receipt"), x.backends, x.version, x.changed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_lease& x) {
  return f(caf::meta::type_name("replica_lease"), x.in_sync, x.lease_ms);
}

template <class Inspector, class T>
typename Inspector::result_type inspect(Inspector& f, served<T>& x) {
  return f(caf::meta::type_name("served"), x.backend, x.value);
}

} // namespace lifeline
