// The relational store: PostgreSQL through libpqxx. A small pool of
// connections, one per concurrent call (postgres_pool.hpp); connections are
// opened lazily and replaced when they break, so a restarted server is
// picked up without a restart of the process. Every call returns within
// postgres_config::call_bound(), whatever the server does. No CAF in here.
#pragma once

#include "backends/backend.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace lifeline {

class postgres_async;
class postgres_pool;

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

private:
  postgres_config cfg_;
  std::unique_ptr<postgres_pool> pool_;
  std::unique_ptr<postgres_async> async_; ///< Last: stops (and answers) first.
};

} // namespace lifeline
