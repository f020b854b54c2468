// The embedded vector store: collections of hnswlib indexes with their
// documents' content and metadata, made durable by a write-ahead log and
// snapshots in one directory. It stands on its own: get-by-id as well as
// search. Writes are last-writer-wins on document::version with tombstones
// for deletes (hnsw/collection.hpp); the replica marker is a file of its own
// in the directory. No CAF in here.
#pragma once

#include "backends/backend.hpp"
#include "backends/hnsw/collection.hpp"
#include "backends/hnsw/write_ahead_log.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

namespace lifeline {

struct hnsw_config {
  /// Where the log and the snapshots live (created if missing).
  std::string directory;
  hnsw::log_config log;
  hnsw::index_params index;
  /// Calls served in parallel (searches use every one of them).
  uint32_t threads = 2;
  /// Rebuild a collection once this share of its index is deleted elements.
  double rebuild_deleted_share = 0.3;
  /// Take a snapshot (and empty the log) once the log is this large.
  uint64_t snapshot_log_bytes = 64u << 20;
  /// How often the maintenance thread looks at the above.
  std::chrono::milliseconds maintenance_interval{500};
};

class hnsw_backend final : public backend {
public:
  /// Starts loading the store in the background: until it is loaded, every
  /// call (the probe included) answers `unavailable` with the progress, and
  /// if loading fails (a corrupt snapshot or log), with the reason. A
  /// half-loaded store never serves.
  explicit hnsw_backend(hnsw_config cfg);
  ~hnsw_backend() override;

  std::string kind() const override { return "hnsw"; }
  lifeline::capabilities capabilities() const override { return capabilities::all(); }
  /// Searches come here first: an index beats PostgreSQL's exact scan.
  lifeline::capabilities preferred() const override {
    return lifeline::capabilities{}.with(operation::search);
  }
  uint32_t concurrency() const override { return cfg_.threads; }
  // Writes wait for fsync, and reads wait for the collection lock while a
  // write holds it: neither may hold a scheduler thread (the coordinator
  // runs on those).
  bool blocking() const override { return true; }

  expected<bool> create_collection(const collection_spec& spec) override;
  expected<void> drop_collection(const std::string& name) override;
  expected<std::vector<collection_spec>> list_collections() override;
  expected<lifeline::collection_stats> collection_stats(const std::string& name) override;
  expected<void> upsert(const std::string& collection, const std::vector<document>& docs) override;
  expected<document> get(const std::string& collection, const std::string& id) override;
  expected<bool> remove(const std::string& collection, const std::string& id,
                       uint64_t version) override;
  expected<std::vector<document>> scan(const scan_request& request) override;
  /// Logged: purged tombstones stay purged after a restart.
  expected<uint64_t> purge_tombstones(uint64_t up_to) override;
  /// <directory>/replica-marker, replaced atomically; "" if absent.
  expected<std::string> replica_marker() override;
  expected<void> set_replica_marker(const std::string& marker) override;
  expected<std::vector<search_hit>> search(const search_query& query) override;
  expected<void> probe() override;

  /// Blocks until loading has finished (for tests and tools); the result of
  /// the load.
  expected<void> wait_loaded();
  /// Takes a snapshot now and empties the log.
  expected<void> snapshot();
  /// Rebuilds every collection whose deleted share is over the threshold.
  void rebuild_if_needed();
  /// Bytes of index memory (for the benchmark).
  size_t memory_bytes() const;

private:
  using collection_ptr = std::shared_ptr<hnsw::collection>;

  void load();
  void load_store();
  expected<void> apply_record(std::string_view payload, uint64_t snapshot_lsn);
  /// Appends a record built for the next record number; on success the
  /// number is taken and the ticket returned for log_->sync(). The caller
  /// holds writes_.
  expected<uint64_t> log_record(const std::string& payload);
  expected<void> ready() const;
  expected<collection_ptr> find(const std::string& name) const;
  void maintenance_loop();

  hnsw_config cfg_;
  // Loading state, read by every call.
  std::atomic<int> state_{0}; ///< 0 loading, 1 ready, 2 failed
  mutable std::mutex load_mutex_;
  std::condition_variable loaded_;
  std::string load_error_;
  std::atomic<uint64_t> load_done_{0}, load_total_{0};

  mutable std::shared_mutex collections_mutex_;
  std::map<std::string, collection_ptr> collections_;
  /// One write at a time: log order is apply order.
  std::mutex writes_;
  uint64_t lsn_ = 0;
  std::unique_ptr<hnsw::write_ahead_log> log_;
  /// One replica-marker write at a time (they share the temporary file).
  std::mutex marker_mutex_;

  std::mutex maintenance_mutex_;
  std::condition_variable maintenance_cv_;
  bool stopping_ = false;
  int lock_fd_ = -1; ///< flock on <directory>/LOCK while this instance lives.
  std::thread loader_;
  std::thread maintenance_;
};

} // namespace lifeline
