// The relational store: PostgreSQL through libpqxx. A small pool of
// connections, one per concurrent call (postgres_pool.hpp); connections are
// opened lazily and replaced when they break, so a restarted server is
// picked up without a restart of the process. Every call returns within
// postgres_config::call_bound(), whatever the server does. No CAF in here.
#pragma once

#include "backends/backend.hpp"

namespace pqxx {
class connection_base;
}

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lifeline {

class postgres_async;
class postgres_pool;
class postgres_standbys;

struct postgres_config {
  /// libpq connection string without the password, e.g.
  /// "host=127.0.0.1 port=5432 user=lifeline dbname=lifeline".
  std::string dsn;
  /// The password; never logged. Use password_from_env/file to fill it.
  std::string password;
  uint32_t pool_size = 4;
  std::chrono::seconds connect_timeout{3};
  std::chrono::milliseconds statement_timeout{5000};
  /// The longest one call may take, whatever the server does (a frozen
  /// server enforces no statement_timeout): past it the backend's watchdog
  /// shuts the connection down and the call answers `timeout`. A call that
  /// opens a connection may take connect_timeout on top. 0: statement_timeout
  /// plus call_timeout_margin (see call_bound()).
  std::chrono::milliseconds call_timeout{0};
  static constexpr std::chrono::milliseconds call_timeout_margin{1000};

  /// The bound of the schema migrations a backend runs once, on its first
  /// connection: a migration that builds an index reads the whole table,
  /// which takes longer than any single call on a large database.
  std::chrono::milliseconds migration_timeout{std::chrono::minutes(10)};
  /// Reads by id go through the asynchronous reader (postgres_async.hpp):
  /// no thread hand-off, concurrent gets coalesced into one query. Off: they
  /// go through the pool like every other call.
  bool async_reads = true;
  /// The asynchronous reader's connections (on top of the pool's); 0 means
  /// pool_size.
  uint32_t async_connections = 0;
  /// Hot standbys of the primary (streaming replication): libpq connection
  /// strings without the password (the primary's is used). They serve
  /// reads, never writes, and only once they have replayed every write
  /// acknowledged through this backend (postgres_standbys.hpp). With any,
  /// gets go through the backend's workers (async_reads is off): a read
  /// that falls over to a standby blocks.
  std::vector<std::string> read_replicas;
  /// Reads go to a standby first, the primary only when none can serve
  /// ("prefer"); else standbys serve only while the primary is unreachable.
  bool prefer_replicas = false;
  /// call_timeout, or its default derived from statement_timeout.
  std::chrono::milliseconds call_bound() const {
    return call_timeout.count() > 0 ? call_timeout : statement_timeout + call_timeout_margin;
  }

  /// Reads the password from the file named by `file_var` or else from
  /// `var` (e.g. LIFELINE_PG_PASSWORD_FILE, LIFELINE_PG_PASSWORD).
  void password_from_env(const char* file_var = "LIFELINE_PG_PASSWORD_FILE",
                         const char* var = "LIFELINE_PG_PASSWORD");
};

class postgres_backend final : public backend {
public:
  explicit postgres_backend(postgres_config cfg);
  ~postgres_backend() override;

  std::string kind() const override { return "postgres"; }
  lifeline::capabilities capabilities() const override { return capabilities::all(); }
  uint32_t concurrency() const override { return cfg_.pool_size; }

  expected<bool> create_collection(const collection_spec& spec) override;
  expected<void> drop_collection(const std::string& name) override;
  expected<std::vector<collection_spec>> list_collections() override;
  expected<lifeline::collection_stats> collection_stats(const std::string& name) override;
  expected<void> upsert(const std::string& collection, const std::vector<document>& docs) override;
  expected<document> get(const std::string& collection, const std::string& id) override;
  expected<bool> remove(const std::string& collection, const std::string& id,
                        uint64_t version) override;
  expected<std::vector<document>> scan(const scan_request& request) override;
  expected<std::vector<version_entry>> versions(const range_request& request) override;
  expected<uint64_t> purge_tombstones(uint64_t up_to) override;
  expected<std::string> replica_marker() override;
  expected<void> set_replica_marker(const std::string& marker) override;
  expected<std::vector<search_hit>> search(const search_query& query) override;
  expected<void> probe() override;

  /// True while the asynchronous reader is on (postgres_config::async_reads):
  /// get_async() then never blocks. search_async() is still the default,
  /// which calls search() in place and blocks: search on PostgreSQL goes
  /// through the backend actor's workers.
  /// Gets, through the asynchronous reader; searches still block.
  lifeline::capabilities direct_reads() const override {
    return async_ ? lifeline::capabilities{}.with(operation::get) : lifeline::capabilities{};
  }
  /// get() on the asynchronous reader: answered on its loop thread (an
  /// invalid id in place, before this returns). Thread-safe, cheap.
  void get_async(const std::string& collection, const std::string& id,
                 completion<document> done) override;

  /// The asynchronous reader, or null when it is off (tests read its counters).
  postgres_async* async_reader() { return async_.get(); }

  /// The primary last reached, its timeline and the standbys (as of the last
  /// probe or connection; never blocks).
  bool database(database_status& out) const override;
  /// Set while the primary's timeline differs from the one its replica
  /// marker was stored on (a failover): gets and searches are refused until
  /// the coordinator has verified it and stored a new marker.
  std::string lost_writes() const override;

private:
  /// A read: on the primary, or on a standby that holds every acknowledged
  /// write when the primary cannot be reached (or first, with
  /// prefer_replicas). `client`: a caller's read (refused while unverified
  /// after a failover), not a recovery's.
  template <class T, class F>
  expected<T> read(F&& f, bool client = true);
  /// After a committed write: the primary's WAL position now bounds what a
  /// standby must have replayed before it serves (only with standbys).
  void note_commit(pqxx::connection_base& c);
  /// On each new primary connection and probe: where it is (host,
  /// timeline, WAL position), and whether its timeline moved.
  void observe_primary(pqxx::connection_base& c);
  /// Under db_mutex_: the primary is on `current`, the data was stored on
  /// `stored`; another timeline not verified since makes it unverified.
  void suspect_timeline(const std::string& stored, const std::string& current);
  bool primary_marked_down() const;
  /// What a caller's read answers while unverified after a failover.
  backend_error lost_writes_error() const;
  void mark_primary_down();

  postgres_config cfg_;
  mutable std::mutex db_mutex_; ///< Guards db_ and lost_writes_.
  database_status db_;
  std::string lost_writes_;
  std::atomic<bool> unverified_{false}; ///< !lost_writes_.empty(), for the hot path.
  std::string verified_timeline_;       ///< Stored with the last marker by this process.
  /// Until when (steady clock, ns) reads skip a primary that just failed to
  /// connect, instead of trying it again on every read.
  std::atomic<int64_t> primary_down_until_{0};
  std::unique_ptr<postgres_standbys> standbys_; ///< Null without read_replicas.
  std::unique_ptr<postgres_pool> pool_;
  std::unique_ptr<postgres_async> async_; ///< Last: stops (and answers) first.
};

} // namespace lifeline
