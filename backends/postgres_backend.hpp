// The relational store: PostgreSQL through libpqxx. A small pool of
// connections, one per concurrent call; connections are opened lazily and
// replaced when they break, so a restarted server is picked up without a
// restart of the process. No CAF in here.
#pragma once

#include "backends/backend.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lifeline {

struct postgres_config {
  /// libpq connection string without the password, e.g.
  /// "host=127.0.0.1 port=5432 user=lifeline dbname=lifeline".
  std::string dsn;
  /// The password; never logged. Use password_from_env/file to fill it.
  std::string password;
  uint32_t pool_size = 4;
  std::chrono::seconds connect_timeout{3};
  std::chrono::milliseconds statement_timeout{5000};

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
  expected<uint64_t> purge_tombstones(uint64_t up_to) override;
  expected<std::string> replica_marker() override;
  expected<void> set_replica_marker(const std::string& marker) override;
  expected<std::vector<search_hit>> search(const search_query& query) override;
  expected<void> probe() override;

private:
  class lease;
  struct connection; ///< A pqxx::connection (defined in the .cpp).
  /// Runs `f(pqxx::connection&)` on a pooled connection; maps libpqxx exceptions
  /// onto backend errors and drops a connection that broke.
  template <class T, class F>
  expected<T> with_connection(F&& f);

  std::unique_ptr<connection> connect();

  postgres_config cfg_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<connection>> idle_;
  uint32_t open_ = 0; ///< Connections checked out or idle.
  std::atomic<bool> schema_ready_{false};
};

} // namespace lifeline
