// The vector store's append-only log: one record per write, framed and made
// durable by io::record_log (io/record_log.hpp: [u32 length][u32 CRC-32 of
// the payload][payload]). A write is acknowledged only once its record is
// on disk (per write, by group commit, or, if so configured, within an
// interval). A failed write or sync poisons the log until the store
// reopens it. No CAF in here.
#pragma once

#include "core/expected.hpp"
#include "io/record_log.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace lifeline::hnsw {

/// per_write, group (writers waiting at the same time share one
/// fdatasync) or interval (a crash may lose up to `interval`).
using sync_mode = io::sync_mode;

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
  /// and an error (the file is left as it is, and `found`, if given, says
  /// tail `damaged`, where and why), as is any error from `replay`.
  static expected<std::unique_ptr<write_ahead_log>> open(const std::string& path, log_config cfg,
                                                         const replay_fn& replay,
                                                         const warn_fn& warn,
                                                         io::log_scan* found = nullptr);

  /// Appends one record; returns its ticket for sync(). Not durable yet.
  expected<uint64_t> append(std::string_view payload) { return log_->append(payload); }
  /// Returns once the record with `ticket` is on disk (per the mode).
  expected<void> sync(uint64_t ticket) { return log_->sync(ticket); }
  /// Returns once every record appended so far is on disk.
  expected<void> sync_all() { return log_->sync_all(); }
  /// Empties the log: a snapshot now covers everything in it.
  expected<void> truncate() { return log_->truncate(); }
  uint64_t size_bytes() const { return log_->size_bytes(); }
  /// The error that poisoned the log (a failed write or sync), if any:
  /// from then on every write fails.
  std::string failure() const { return log_->failure(); }

private:
  explicit write_ahead_log(std::unique_ptr<io::record_log> log) : log_(std::move(log)) {}

  std::unique_ptr<io::record_log> log_;
};

} // namespace lifeline::hnsw
