// Why: a get through the pool (postgres_pool.hpp) costs a thread hand-off
// each way (a detached worker blocks in libpq for it), about 70 µs, more than
// the query itself. This client reads without any: one event-loop thread per
// backend owns a few raw libpq connections in non-blocking mode and drives
// them by socket readiness; a caller only queues its get and is answered on
// the loop thread. Gets that arrive while every connection is busy leave
// together, per collection, as one query for all their ids (coalescing), so
// under load a round trip serves many gets; an idle client sends at once.
//
// Every wait is bounded: a query by the backend's call bound (on expiry its
// connection is closed and all its gets answer `timeout`), a connect by
// connect_timeout, a get waiting for a connection by the call bound plus
// connect_timeout. A server that refuses connections answers
// backend_unavailable at once. Only reads by id go this way; writes,
// transactions and migrations stay on libpqxx. No CAF in here.
#pragma once

#include "backends/backend.hpp"
#include "backends/postgres_backend.hpp"

#include <memory>
#include <string>

namespace lifeline {

class postgres_async {
public:
  /// What the client did so far (tests check coalescing with these).
  struct counters {
    uint64_t gets = 0;        ///< get() calls queued.
    uint64_t queries = 0;     ///< Queries sent (one per batch).
    uint64_t ids = 0;         ///< Distinct ids asked for in those queries.
    uint64_t abandoned = 0;   ///< Connections closed because a query ran out of time.
    uint64_t connects = 0;    ///< Connections started.
  };

  /// Most distinct ids one query asks for.
  static constexpr size_t max_batch = 64;

  /// Starts the loop thread; connections open on demand, at most
  /// `connections`, with postgres_conninfo(cfg).
  postgres_async(const postgres_config& cfg, uint32_t connections);
  /// Answers every pending get with backend_unavailable, closes the
  /// connections and joins the loop thread (the loop never blocks but in
  /// poll(), which the stop wakes).
  ~postgres_async();
  postgres_async(const postgres_async&) = delete;
  postgres_async& operator=(const postgres_async&) = delete;

  /// Queues a get (thread-safe, cheap: a lock, a push, at most one write to
  /// an eventfd). `done` runs once, on the loop thread (or here if the client
  /// is stopping), with exactly what postgres_backend::get() would answer
  /// for a valid id. It must not block.
  void get(const std::string& collection, const std::string& id,
           backend::completion<document> done);

  counters stats() const;

  /// Test hook: while held, gets queue up but no query goes out (deadlines
  /// still run). Releasing sends what queued, coalesced.
  void hold(bool held);

private:
  struct loop;
  /// Shared with the loop's thread, which keeps it alive until it returns:
  /// the last reference to this reader's backend may be in a get's
  /// completion, dropped on the loop thread itself.
  std::shared_ptr<loop> loop_;
};

} // namespace lifeline
