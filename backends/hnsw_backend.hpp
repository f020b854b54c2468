// The embedded vector store: collections of hnswlib indexes with their
// documents' content and metadata, made durable by a write-ahead log and
// snapshots in one directory. It stands on its own: get-by-id as well as
// search. Writes are last-writer-wins on document::version with tombstones
// for deletes (hnsw/collection.hpp); the replica marker is a file of its own
// in the directory. No CAF in here.
#pragma once

#include "backends/backend.hpp"
#include "backends/hnsw/collection.hpp"
#include "backends/hnsw/retry_backoff.hpp"
#include "backends/hnsw/write_ahead_log.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

namespace lifeline {

namespace hnsw {
/// What a logged record touches, for the apply order: records whose writes
/// commute (distinct ids) are applied in parallel, the others in log order.
struct write_keys {
  std::string collection;
  std::vector<std::string> ids; ///< Sorted.
  bool barrier = false;         ///< Creates, drops, purges: ordered with everything.
};
} // namespace hnsw

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
  /// A failed snapshot (say, the disk is full) is tried again after this,
  /// then twice as long each time, at most snapshot_retry_max.
  std::chrono::milliseconds snapshot_retry_initial{1000};
  std::chrono::milliseconds snapshot_retry_max{60000};
  /// False: no maintenance thread (tests call maintain() themselves).
  bool maintenance_thread = true;
};

/// What the maintenance passes have done (for tests and tools).
struct hnsw_maintenance_status {
  uint64_t snapshot_attempts = 0;
  /// Failed attempts in a row (0 once one succeeds).
  uint64_t snapshot_failures = 0;
  /// When a failing snapshot will next be tried.
  std::chrono::steady_clock::time_point next_snapshot{};
};

class hnsw_backend final : public backend {
public:
  /// Starts loading the store in the background: until it is loaded, every
  /// call (the probe included) answers `unavailable` with the progress, and
  /// if loading fails (a corrupt snapshot, a log record that cannot be
  /// replayed), with the reason. A half-loaded store never serves. A log
  /// damaged before its end is set aside instead and the store starts
  /// empty, to be rebuilt from a peer (see damage()).
  ///
  /// A write is applied (made visible) only once its log record is on disk
  /// (per log_config's mode): a write whose sync failed is never read, and
  /// never reaches a snapshot.
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
  /// Reads are computation over memory under a shared lock, which writes
  /// take exclusively only briefly (to publish a batch, or to resize): they
  /// are called directly from the routing snapshot, on the caller's thread
  /// (get_async and search_async answer in place). A rebuild holds the lock
  /// longer, but a store being rebuilt is not in sync and gets no reads.
  lifeline::capabilities direct_reads() const override {
    return lifeline::capabilities{}.with(operation::get).with(operation::search);
  }

  expected<bool> create_collection(const collection_spec& spec) override;
  expected<void> drop_collection(const std::string& name) override;
  expected<std::vector<collection_spec>> list_collections() override;
  expected<lifeline::collection_stats> collection_stats(const std::string& name) override;
  expected<void> upsert(const std::string& collection, const std::vector<document>& docs) override;
  expected<document> get(const std::string& collection, const std::string& id) override;
  expected<bool> remove(const std::string& collection, const std::string& id,
                       uint64_t version) override;
  expected<std::vector<document>> scan(const scan_request& request) override;
  /// In id order from the range's lower bound: O(log n + limit) per call.
  expected<std::vector<version_entry>> versions(const range_request& request) override;
  /// Folded in place (no vector of entries).
  expected<range_digest> digest(const range_request& request) override;
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
  /// One maintenance pass as of `now`: a snapshot if the log is large (and
  /// a failed one is due again), then rebuilds. The maintenance thread runs
  /// one per interval.
  void maintain(std::chrono::steady_clock::time_point now);
  hnsw_maintenance_status maintenance_status() const;
  /// "" unless loading found the log damaged before its end: then where
  /// (file, byte, reason) and where its files were set aside.
  std::string damage() const;

private:
  using collection_ptr = std::shared_ptr<hnsw::collection>;

  void load();
  void load_store();
  /// Sets the damaged log (and the snapshot it continues) aside in a
  /// "<unix ms>.damaged" directory, forgets the replica marker and leaves
  /// the store empty; an error if that cannot be done.
  expected<void> set_aside_damaged_log(const std::string& wal, const io::log_scan& scan);
  /// Runs `apply` once every earlier record it does not commute with has
  /// been applied (and after its own sync): memory changes as a replay of
  /// the log in order would change it. A throwing apply fails the store.
  expected<void> apply_in_order(uint64_t ticket, const std::function<void()>& apply);
  /// The record with `ticket` will not be applied (its sync failed).
  void abandon(uint64_t ticket);
  /// log_->sync(ticket), logging the first failure (the log is poisoned
  /// from then on).
  expected<void> sync_record(uint64_t ticket);
  /// Waits until every record logged so far is on disk and applied (the
  /// caller holds writes_).
  expected<void> settle_all();
  /// The store's memory no longer matches its log: every call fails.
  void fail_store(const std::string& why);
  expected<void> apply_record(std::string_view payload, uint64_t snapshot_lsn);
  /// Appends a record built for the next record number; on success the
  /// number is taken, the record joins the ones waiting to be applied and
  /// the ticket is returned for log_->sync(). The caller holds writes_.
  expected<uint64_t> log_record(const std::string& payload, hnsw::write_keys keys);
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
  /// One write decided and logged at a time: log order is decision order.
  std::mutex writes_;
  uint64_t lsn_ = 0;
  std::unique_ptr<hnsw::write_ahead_log> log_;
  /// Records logged and not applied yet, by ticket (under apply_mutex_).
  std::mutex apply_mutex_;
  std::condition_variable applied_cv_;
  std::map<uint64_t, hnsw::write_keys> unapplied_;
  std::string damage_; ///< Set by the loader only.
  std::atomic<bool> log_failure_reported_{false};
  /// One maintenance pass at a time; its back-off state.
  mutable std::mutex maintain_mutex_;
  hnsw::retry_backoff snapshot_backoff_;
  hnsw_maintenance_status maintenance_stats_;
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
