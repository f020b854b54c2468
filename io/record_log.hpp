// The one framed, append-only record log, under both the vector store's
// write-ahead log (backends/hnsw/write_ahead_log) and the handoff logs
// (replication/handoff_log). Framing, durability and the reading of a log
// after a crash live here once, so a durability fix is made once.
//
// A record is [u32 length][u32 CRC-32 of the payload][payload], little-
// endian; payloads are never empty (a zero length marks a zero-filled
// tail). The format is the one both logs have always written.
//
// Reading tells two kinds of trouble apart:
//   torn     only the last record is cut short or fails its checksum, or
//            everything after the intact records is zeros: an append that
//            a crash interrupted (never acknowledged);
//   damaged  a record fails its checksum, or is empty or impossibly long,
//            with more data after it.
// open() cuts a torn tail off (and reports it) and refuses a damaged log
// with a `corrupt` error naming the byte, leaving the file as it is; its
// owner decides what damage leads to (the vector store sets the file aside
// and has itself rebuilt, backends/hnsw_backend_load.cpp).
// No CAF in here.
#pragma once

#include "core/expected.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace lifeline::io {

constexpr size_t record_header_bytes = 8;

/// Appends `payload` framed as a record to `out`.
void append_frame(std::string& out, std::string_view payload);

/// What follows the last intact record.
enum class log_tail : uint8_t { clean, torn, damaged };
std::string_view to_string(log_tail t);

/// Reads the framed records of an open file between two offsets, in order,
/// through one buffer (never more memory than a buffer and one record).
class record_reader {
public:
  record_reader(int fd, uint64_t from, uint64_t end, uint32_t max_record_bytes);

  /// Reads the next record: true (see payload()), or false once the intact
  /// records end (tail() says why). A failed read is an error.
  expected<bool> next();
  /// The record just read; valid until the next call.
  std::string_view payload() const { return payload_; }
  /// Offset of the record just read.
  uint64_t offset() const { return offset_; }
  /// Offset just past the last intact record read.
  uint64_t position() const { return pos_; }
  log_tail tail() const { return tail_; }
  /// Why the tail is torn or damaged ("checksum mismatch", ...).
  const std::string& reason() const { return reason_; }

private:
  expected<void> fill(uint64_t offset, size_t n);
  expected<bool> zeros_to_end(uint64_t offset);
  bool stop(log_tail tail, std::string reason);

  int fd_;
  uint64_t pos_;
  uint64_t end_;
  uint32_t max_record_bytes_;
  std::string buf_;
  uint64_t buf_offset_ = 0;
  std::string_view payload_;
  uint64_t offset_ = 0;
  bool done_ = false;
  log_tail tail_ = log_tail::clean;
  std::string reason_;
};

/// When an append is on disk.
enum class sync_mode : uint8_t {
  per_write, ///< append() returns after its own fdatasync.
  group,     ///< sync(ticket): writers waiting at the same time share one fdatasync.
  interval,  ///< A background fdatasync every `interval`; a crash may lose that much.
};

/// What a failed write or fdatasync does to the log.
enum class failure_policy : uint8_t {
  /// A failed fdatasync, or a failed write that could not be cut off again,
  /// poisons the log: every later append fails (the vector store's log;
  /// its owner restarts the store, which reopens the log).
  poison,
  /// The records of the failed append are cut off again (best effort: what
  /// remains is found at open) and the log goes on (the handoff logs, open
  /// for the life of the process). Only with sync_mode::per_write.
  cut_back,
};

struct record_log_options {
  sync_mode mode = sync_mode::per_write;
  std::chrono::milliseconds interval{50};
  failure_policy on_failure = failure_policy::poison;
  /// Larger records are refused, and a length field above it is damage.
  uint32_t max_record_bytes = 256u << 20;
  /// Names the log in error messages; empty: its path.
  std::string label;
};

/// What open() found after the records it read.
struct log_scan {
  uint64_t records = 0;     ///< Intact records read.
  uint64_t end = 0;         ///< Where they end (a torn tail was cut here).
  log_tail tail = log_tail::clean;
  std::string reason;       ///< Why torn or damaged.
};

class record_log {
public:
  using record_fn = std::function<expected<void>(uint64_t offset, std::string_view payload)>;

  /// Opens (creating if needed) the log at `path` and feeds each intact
  /// record from offset `from` on to `on_record` (its error ends the open).
  /// A torn tail is cut off; a damaged log is a `corrupt` error. Either
  /// way `scan`, if given, says what was found. What was read is fsynced
  /// before this returns.
  static expected<std::unique_ptr<record_log>> open(const std::string& path,
                                                    record_log_options options, uint64_t from,
                                                    const record_fn& on_record,
                                                    log_scan* scan = nullptr);
  /// Creates an empty log at `path`, replacing any file there.
  static expected<std::unique_ptr<record_log>> create(const std::string& path,
                                                      record_log_options options);
  ~record_log();
  record_log(const record_log&) = delete;
  record_log& operator=(const record_log&) = delete;

  /// Appends one record; returns its ticket for sync() (1-based, counting
  /// appends since open). Durable on return only in per_write mode.
  expected<uint64_t> append(std::string_view payload);
  /// Appends records in one write, all or none; the ticket of the last.
  expected<uint64_t> append(const std::vector<std::string>& payloads);
  /// Returns once the record with `ticket` is on disk (group mode; the
  /// other modes return at once).
  expected<void> sync(uint64_t ticket);
  /// Returns once every record appended so far is on disk (group mode).
  expected<void> sync_all();
  /// Empties the log (durably).
  expected<void> truncate();
  /// A reader of the records from `offset` to the current end (it reads
  /// this log's file: it must not outlive the log).
  record_reader read_from(uint64_t offset) const;
  uint64_t size_bytes() const;
  /// The error that poisoned the log, if any (see failure_policy).
  std::string failure() const;
  const std::string& path() const { return path_; }
  /// The label used in messages.
  const std::string& label() const { return options_.label; }

private:
  record_log(std::string path, int fd, uint64_t size, record_log_options options);
  expected<void> check_payload(std::string_view payload) const;
  expected<uint64_t> append_bytes(const std::string& bytes, size_t records);
  void interval_loop();

  std::string path_;
  int fd_;
  record_log_options options_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t size_;           ///< Bytes of intact records in the file.
  uint64_t appended_ = 0;   ///< Records appended (tickets are 1-based).
  uint64_t synced_ = 0;     ///< Records known to be on disk.
  bool syncing_ = false;    ///< An fdatasync is running (group commit).
  std::string failure_;     ///< Set once the log is poisoned.
  bool stopping_ = false;
  std::thread interval_thread_;
};

/// TEST ONLY: fault injection for the record logs' fdatasync calls. When a
/// hook is set, every fdatasync of a record log first calls it with the
/// log's path; a non-zero return is taken as that sync's errno (the sync
/// fails as a real one would, without calling fdatasync). The hook may also
/// block, to hold a sync in flight. Production code never sets it; pass an
/// empty function to clear it.
namespace test_hooks {
using sync_hook = std::function<int(const std::string& path)>;
void set_sync_hook(sync_hook hook);
} // namespace test_hooks

} // namespace lifeline::io
