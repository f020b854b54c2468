// The vector store's append-only log: one record per write, each framed as
// [u32 length][u32 CRC-32 of the payload][payload]. A write is acknowledged
// only once its record is on disk (per write, by group commit, or, if so
// configured, within an interval). No CAF in here.
#pragma once

#include "core/expected.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace lifeline::hnsw {

enum class sync_mode : uint8_t {
  per_write, ///< fdatasync after every record.
  group,     ///< Writers waiting at the same time share one fdatasync.
  interval,  ///< fdatasync every `interval`; a crash may lose that much.
};

struct log_config {
  sync_mode mode = sync_mode::group;
  std::chrono::milliseconds interval{50};
};

class write_ahead_log {
public:
  using replay_fn = std::function<expected<void>(std::string_view payload)>;
  using warn_fn = std::function<void(const std::string&)>;

  /// Opens (or creates) the log at `path` and feeds every intact record to
  /// `replay`, in order. A torn last record (a crash mid-append) is cut off
  /// with a warning; a damaged record followed by more data is corruption
  /// and an error, as is any error from `replay`.
  static expected<std::unique_ptr<write_ahead_log>> open(const std::string& path, log_config cfg,
                                                         const replay_fn& replay,
                                                         const warn_fn& warn);
  ~write_ahead_log();
  write_ahead_log(const write_ahead_log&) = delete;
  write_ahead_log& operator=(const write_ahead_log&) = delete;

  /// Appends one record; returns its ticket for sync(). Not durable yet.
  expected<uint64_t> append(std::string_view payload);
  /// Returns once the record with `ticket` is on disk (per the mode).
  expected<void> sync(uint64_t ticket);
  /// Returns once every record appended so far is on disk.
  expected<void> sync_all();
  /// Empties the log: a snapshot now covers everything in it.
  expected<void> truncate();
  uint64_t size_bytes() const;
  /// The error that poisoned the log (a failed write or sync), if any:
  /// from then on every write fails.
  std::string failure() const;

private:
  write_ahead_log(int fd, uint64_t size, log_config cfg);
  void interval_loop();

  int fd_;
  log_config cfg_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t size_;           ///< Bytes in the file.
  uint64_t appended_ = 0;   ///< Records appended (tickets are 1-based).
  uint64_t synced_ = 0;     ///< Records known to be on disk.
  bool syncing_ = false;    ///< An fdatasync is running (group commit).
  std::string failure_;     ///< A failed fdatasync poisons the log.
  bool stopping_ = false;
  std::thread interval_thread_;
};

} // namespace lifeline::hnsw
