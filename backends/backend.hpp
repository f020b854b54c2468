// The interface every database client implements. No CAF in here: a backend
// is plain C++ that may block; the actor wrapper (actors/backend_actor.cpp)
// owns the threading and calls these methods from its worker actors.
#pragma once

#include "core/digest.hpp"
#include "core/errors.hpp"
#include "core/expected.hpp"
#include "core/types.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lifeline {

/// A store of collections of documents. Implementations must be safe to call
/// from several threads at once (one per worker): the actor wrapper runs up to
/// `concurrency()` calls in parallel.
class backend {
public:
  virtual ~backend() = default;

  /// Short stable name, e.g. "postgres" or "memory".
  virtual std::string kind() const = 0;

  /// The operations this backend can serve; others are never routed to it.
  virtual lifeline::capabilities capabilities() const = 0;

  /// Operations this backend is the natural first choice for, ahead of the
  /// configured priority order (a vector index for search). Default: none.
  virtual lifeline::capabilities preferred() const { return {}; }

  /// How many calls may run in parallel (connections, threads).
  virtual uint32_t concurrency() const { return 1; }

  /// True if calls may block on I/O (the actor wrapper then gives each
  /// worker its own thread); false for stores that only compute in memory.
  virtual bool blocking() const { return true; }

  /// Creates a collection. True if this call created it; false if an
  /// identical one already existed (that is a success too, so a create can
  /// be retried and replayed); a different spec under the same name is a
  /// `conflict`. Of two concurrent identical creates, exactly one answers
  /// true. The answer is what lets the API tell 201 from 200 with one call.
  virtual expected<bool> create_collection(const collection_spec& spec) = 0;
  virtual expected<void> drop_collection(const std::string& name) = 0;
  virtual expected<std::vector<collection_spec>> list_collections() = 0;
  virtual expected<lifeline::collection_stats> collection_stats(const std::string& name) = 0;

  // -- versioned writes (last writer wins) ---------------------------------------
  //
  // Every document write carries a version (document::version, assigned by the
  // coordinator; 0 means unversioned). A backend keeps, per id, the version of
  // the last write it applied, live or deleted (a tombstone), and applies a
  // write only if its version is >= the stored one; an older write is ignored
  // and still succeeds. Replays and retries are therefore idempotent and
  // converge in any order.

  /// Inserts or replaces documents; a batch is all-or-nothing (every document
  /// is validated first). Documents older than what is stored are skipped.
  virtual expected<void> upsert(const std::string& collection,
                                const std::vector<document>& docs) = 0;
  /// A live document; a deleted or unknown id is `not_found`.
  virtual expected<document> get(const std::string& collection, const std::string& id) = 0;
  /// Deletes a document by leaving a tombstone at `version` (unless something
  /// newer is stored). A missing id is not an error: the tombstone is still
  /// kept. True if a live document was deleted by this call.
  virtual expected<bool> remove(const std::string& collection, const std::string& id,
                                uint64_t version) = 0;
  /// Live documents with id > request.after (byte order), ascending by id, at
  /// most request.limit; without vector, content and metadata unless
  /// request.with_payload. Used to rebuild a replica and to compare replicas.
  virtual expected<std::vector<document>> scan(const scan_request& request) = 0;

  // -- anti-entropy repair ----------------------------------------------------------

  /// Every stored id of a range, live or tombstone, with its version,
  /// ascending by id (byte order), at most request.limit. Repair compares
  /// these across replicas where their digests differ.
  virtual expected<std::vector<version_entry>> versions(const range_request& request) {
    (void) request;
    return backend_error{errc::unsupported, kind() + " cannot list versions"};
  }
  /// The digest (core/digest.hpp) of what versions() answers for the same
  /// range. The default folds versions(); a store may compute it in place.
  virtual expected<range_digest> digest(const range_request& request) {
    auto entries = versions(request);
    if (!entries) return entries.error();
    return digest_of(*entries);
  }
  /// Forgets every tombstone with version <= up_to (in every collection),
  /// once every replica is known to hold it. Returns how many were dropped.
  virtual expected<uint64_t> purge_tombstones(uint64_t up_to) = 0;

  // -- replica identity ---------------------------------------------------------

  /// The marker last stored with set_replica_marker (empty if none). It is
  /// kept with the data, durably: a store that lost its data loses it too,
  /// which is how the coordinator tells a replica to replay from one to
  /// rebuild.
  virtual expected<std::string> replica_marker() = 0;
  virtual expected<void> set_replica_marker(const std::string& marker) = 0;

  /// k nearest neighbours, nearest first, at most k.
  virtual expected<std::vector<search_hit>> search(const search_query& query) = 0;

  /// Cheap liveness check against the underlying store.
  virtual expected<void> probe() = 0;

  // -- replicated databases (never block: cached by probe and calls) ------------

  /// Its primary and standbys, for health and metrics; none for a store
  /// without read copies. Thread-safe and cheap (as of the last probe).
  virtual bool database(database_status& out) const {
    (void)out;
    return false;
  }
  /// Non-empty (the reason) once the store may have lost writes it
  /// acknowledged while nothing was restarted: a database failover to a
  /// standby on a new timeline (asynchronous replication loses its tail).
  /// The coordinator then verifies it, rebuilding it from an in-sync peer,
  /// before it serves reads again; storing the new replica marker clears it.
  virtual std::string lost_writes() const { return {}; }

  // -- direct reads (the hot path, no actor and no worker thread) -----------------
  //
  // The coordinator publishes which backend serves each read right now
  // (actors/routing_snapshot.hpp); callers then read from that backend
  // directly, through these calls, instead of through its actor's workers.

  /// Called once with the answer. It runs on the backend's own event loop,
  /// or on the caller's thread before the call returns for a store that
  /// answers in place; it must not block.
  template <class T>
  using completion = std::function<void(expected<T>)>;

  /// The reads whose *_async call never blocks the caller: it answers in
  /// place from memory or from the backend's own event loop. Only those are
  /// called directly on the hot path. Default: get and search for a store
  /// that never blocks, none otherwise.
  virtual lifeline::capabilities direct_reads() const {
    return blocking() ? lifeline::capabilities{}
                      : lifeline::capabilities{}.with(operation::get).with(operation::search);
  }
  /// get() without blocking the caller (see direct_reads()). The default
  /// answers in place by calling get().
  virtual void get_async(const std::string& collection, const std::string& id,
                         completion<document> done) {
    done(get(collection, id));
  }
  /// search() without blocking the caller; the default answers in place.
  virtual void search_async(const search_query& query, completion<std::vector<search_hit>> done) {
    done(search(query));
  }
};

} // namespace lifeline
