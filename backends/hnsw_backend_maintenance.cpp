// The vector store's upkeep: snapshots (which empty the write-ahead log),
// tried again with a growing back-off while they fail (say, the disk is
// full), and rebuilds of indexes that hold too many deleted elements, run
// by the maintenance thread (or by tests through maintain()). Split from
// hnsw_backend.cpp because none of it serves a call: it runs beside them.
#include "backends/hnsw_backend.hpp"

#include "backends/hnsw/snapshot.hpp"
#include "backends/hnsw_backend_detail.hpp"
#include "io/files.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

namespace lifeline {

namespace fs = std::filesystem;
using namespace hnsw;
using namespace hnsw_backend_detail;
using io::list_dir;
using io::sync_dir;

namespace {

std::string snapshot_name(uint64_t lsn) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "snapshot-%020llu", (unsigned long long) lsn);
  return buf;
}

} // namespace

// -- maintenance ---------------------------------------------------------------------------

expected<void> hnsw_backend::snapshot() {
  if (auto ok = ready(); !ok) return ok;
  // Writes wait while the snapshot is written; reads go on.
  std::lock_guard w{writes_};
  // Every record logged must be on disk and applied before the snapshot
  // claims to cover it; a log that cannot be synced gets no snapshot (what
  // is in memory is on disk, but the log is poisoned: the store reloads).
  if (auto ok = settle_all(); !ok)
    return backend_error{errc::backend_error,
                         "no snapshot while the log cannot be synced: " + ok.error().message};
  if (fs::exists(cfg_.directory + "/" + snapshot_name(lsn_)) && log_->size_bytes() == 0)
    return {}; // nothing new since the last snapshot
  auto tmp = cfg_.directory + "/snapshot.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) return backend_error{errc::backend_error, "cannot create " + tmp + ": " + ec.message()};
  {
    std::shared_lock guard{collections_mutex_};
    if (auto ok = write_snapshot(tmp, lsn_, collections_); !ok) return ok;
  }
  auto final_dir = cfg_.directory + "/" + snapshot_name(lsn_);
  if (fs::exists(final_dir)) {
    // Same record number, but the log holds records again (e.g. replayed
    // ones): move the old one aside rather than delete it before the rename.
    fs::rename(final_dir, final_dir + ".old", ec);
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) return backend_error{errc::backend_error, "cannot rename the snapshot: " + ec.message()};
  if (auto ok = sync_dir(cfg_.directory); !ok) return ok;
  // The snapshot holds everything the log did: empty the log, drop the rest.
  if (auto ok = log_->truncate(); !ok) return ok;
  for (auto& old : list_dir(cfg_.directory, "snapshot-"))
    if (cfg_.directory + "/" + old != final_dir) fs::remove_all(cfg_.directory + "/" + old, ec);
  fs::remove_all(final_dir + ".old", ec);
  log().info("vector store {}: snapshot at record {}", cfg_.directory, lsn_);
  return {};
}

void hnsw_backend::rebuild_if_needed() {
  std::vector<collection_ptr> due;
  {
    std::shared_lock guard{collections_mutex_};
    for (auto& [name, c] : collections_)
      if (c->deleted_share() > cfg_.rebuild_deleted_share) due.push_back(c);
  }
  for (auto& c : due) {
    log().info("vector store {}: rebuilding {} ({:.0f}% deleted)", cfg_.directory, c->spec().name,
               c->deleted_share() * 100);
    c->rebuild();
  }
}

size_t hnsw_backend::memory_bytes() const {
  std::shared_lock guard{collections_mutex_};
  size_t n = 0;
  for (auto& [name, c] : collections_) n += c->memory_bytes();
  return n;
}

void hnsw_backend::maintain(std::chrono::steady_clock::time_point now) {
  if (state_ != ready_state) return;
  std::lock_guard pass{maintain_mutex_};
  if (log_->size_bytes() > cfg_.snapshot_log_bytes && snapshot_backoff_.due(now)) {
    ++maintenance_stats_.snapshot_attempts;
    if (auto ok = snapshot(); !ok) {
      if (snapshot_backoff_.failed(now))
        log().error("vector store {}: snapshot failed (failure {} in a row; next try in {} ms, "
                    "backing off to at most {} ms): {}",
                    cfg_.directory, snapshot_backoff_.failures(),
                    std::chrono::duration_cast<std::chrono::milliseconds>(snapshot_backoff_.delay())
                      .count(),
                    cfg_.snapshot_retry_max.count(), ok.error().message);
    } else if (auto failed = snapshot_backoff_.succeeded(); failed > 0) {
      log().info("vector store {}: snapshot succeeded after {} failed attempts", cfg_.directory,
                 failed);
    }
    maintenance_stats_.snapshot_failures = snapshot_backoff_.failures();
    maintenance_stats_.next_snapshot = snapshot_backoff_.next_attempt();
  }
  rebuild_if_needed();
}

hnsw_maintenance_status hnsw_backend::maintenance_status() const {
  std::lock_guard pass{maintain_mutex_};
  return maintenance_stats_;
}

void hnsw_backend::maintenance_loop() {
  std::unique_lock guard{maintenance_mutex_};
  while (!stopping_) {
    maintenance_cv_.wait_for(guard, cfg_.maintenance_interval);
    if (stopping_ || state_ != ready_state) continue;
    guard.unlock();
    try {
      maintain(std::chrono::steady_clock::now());
    } catch (const std::exception& e) {
      // A failed rebuild leaves the old index serving; try again later.
      log().error("vector store {}: maintenance failed: {}", cfg_.directory, e.what());
    }
    guard.lock();
  }
}

} // namespace lifeline
