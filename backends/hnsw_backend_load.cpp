// Loading the vector store at start-up: the snapshot, then the
// write-ahead log replayed over it, and what happens when the log is
// damaged before its end (its files are set aside and the store starts
// empty, to be rebuilt from a peer). Split from hnsw_backend.cpp because it
// runs once, on the loader thread, and has its own failure story; the
// calls that serve the loaded store are there.
#include "backends/hnsw_backend.hpp"

#include "backends/hnsw/records.hpp"
#include "backends/hnsw/snapshot.hpp"
#include "backends/hnsw_backend_detail.hpp"
#include "io/files.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <unistd.h>

namespace lifeline {

namespace fs = std::filesystem;
using namespace hnsw;
using namespace hnsw_backend_detail;
using io::list_dir;
using io::sync_dir;

// -- loading -------------------------------------------------------------------------

void hnsw_backend::load() {
  try {
    load_store();
  } catch (const std::exception& e) {
    // hnswlib and allocations throw; a failed load reports, never terminates.
    std::lock_guard guard{load_mutex_};
    load_error_ = std::string{"loading failed: "} + e.what();
    state_ = failed_state;
    loaded_.notify_all();
  }
}

void hnsw_backend::load_store() {
  auto fail = [&](const std::string& why) {
    log().error("vector store {}: cannot load: {}", cfg_.directory, why);
    std::lock_guard guard{load_mutex_};
    load_error_ = why;
    state_ = failed_state;
    loaded_.notify_all();
  };
  std::error_code ec;
  fs::create_directories(cfg_.directory, ec);
  if (ec) return fail("cannot create " + cfg_.directory + ": " + ec.message());
  // One instance per directory: a second one (say, a restart while the old
  // instance still finishes a snapshot) would truncate the other's log.
  lock_fd_ = ::open((cfg_.directory + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return fail(cfg_.directory + " is in use by another vector store instance");
  fs::remove_all(cfg_.directory + "/snapshot.tmp", ec); // an interrupted snapshot
  fs::remove_all(cfg_.directory + "/" + marker_file + ".tmp", ec); // an interrupted marker write
  uint64_t snapshot_lsn = 0;
  auto snaps = list_dir(cfg_.directory, "snapshot-");
  if (!snaps.empty()) {
    auto snap =
      load_snapshot(cfg_.directory + "/" + snaps.back(), cfg_.index, load_done_, load_total_);
    if (!snap) return fail(snap.error().message);
    snapshot_lsn = lsn_ = snap->lsn;
    collections_ = std::move(snap->collections);
  }
  uint64_t replayed = 0;
  auto wal = cfg_.directory + "/wal";
  auto replay = [&](std::string_view payload) {
    if (++replayed % 100000 == 0)
      log().info("vector store {}: replayed {} log records", cfg_.directory, replayed);
    return apply_record(payload, snapshot_lsn);
  };
  auto warn = [](const std::string& warning) { log().warn("vector store: {}", warning); };
  io::log_scan scan;
  auto opened = write_ahead_log::open(wal, cfg_.log, replay, warn, &scan);
  if (!opened && scan.tail == io::log_tail::damaged) {
    // Damage with more data after it: the records past it were most likely
    // acknowledged, and cutting there (as for a torn tail) would drop them
    // silently while the replica marker still claimed the store in sync.
    // Two ways out: refuse to start (the store stays down, answering
    // `corrupt`, until an operator moves the log away; with every restart
    // it fails the same way), or set the damaged files aside, start empty
    // and forget the replica marker, so that the coordinator sees a marker
    // that differs and rebuilds this store from an in-sync peer (the path
    // every store that lost its data takes). The second keeps the service
    // whole without anyone acting and loses nothing another replica holds;
    // the files stay on disk for inspection. So: set aside and rebuild.
    // (A record that is intact but cannot be replayed is a bug, not disk
    // damage: that still stops the load, below.)
    log().error("vector store {}: log {} is damaged at byte {} ({}) and has more data after "
                "it: the records from there on cannot be read. Setting the store's files "
                "aside and starting empty; its replica marker is cleared, so it is rebuilt "
                "from an in-sync peer",
                cfg_.directory, wal, scan.end, scan.reason);
    if (auto ok = set_aside_damaged_log(wal, scan); !ok)
      return fail("log " + wal + " is damaged at byte " + std::to_string(scan.end) + " ("
                  + scan.reason + "), and it cannot be set aside: " + ok.error().message);
    replayed = 0;
    snapshot_lsn = 0;
    opened = write_ahead_log::open(wal, cfg_.log, replay, warn);
  }
  if (!opened) return fail(opened.error().message);
  log_ = std::move(*opened);
  // The log file (and the directory, if new) must survive a power loss too.
  if (auto ok = sync_dir(cfg_.directory); !ok) return fail(ok.error().message);
  if (auto ok = sync_dir(fs::path{cfg_.directory}.parent_path().string()); !ok)
    return fail(ok.error().message);
  log().info("vector store {}: ready ({} collections, {} log records replayed)", cfg_.directory,
             collections_.size(), replayed);
  std::lock_guard guard{load_mutex_};
  state_ = ready_state;
  loaded_.notify_all();
}

// Replay runs the same collection calls, in the same order, as the writes
// did: every last-writer-wins decision comes out the same.
expected<void> hnsw_backend::apply_record(std::string_view payload, uint64_t snapshot_lsn) {
  auto rec = decode_record(payload);
  if (!rec) return rec.error();
  if (rec->lsn <= snapshot_lsn) return {}; // already in the snapshot
  lsn_ = std::max(lsn_, rec->lsn);
  switch (rec->type) {
    case record_type::create:
      collections_.try_emplace(rec->spec.name, std::make_shared<collection>(rec->spec, cfg_.index));
      return {};
    case record_type::drop:
      collections_.erase(rec->collection);
      return {};
    case record_type::legacy_upsert:
    case record_type::upsert: {
      auto it = collections_.find(rec->collection);
      if (it == collections_.end())
        return corrupt("upsert into unknown collection " + rec->collection);
      for (auto& d : rec->docs)
        if (d.vector.size() != it->second->spec().dimension)
          return corrupt("upsert record has the wrong dimension");
      it->second->upsert(rec->docs, rec->legacy());
      return {};
    }
    case record_type::legacy_remove:
    case record_type::remove:
      if (auto it = collections_.find(rec->collection); it != collections_.end())
        it->second->remove(rec->id, rec->version, rec->legacy());
      return {};
    case record_type::purge:
      for (auto& [name, c] : collections_) c->purge_tombstones(rec->up_to);
      return {};
  }
  return corrupt("unknown record type");
}

expected<void> hnsw_backend::set_aside_damaged_log(const std::string& wal,
                                                   const io::log_scan& scan) {
  // The marker goes first (durably): a crash half-way then finds the store
  // without a marker (rebuilt) and the damaged log again (set aside again),
  // never a store emptied under a marker that claims it is in sync.
  std::error_code ec;
  fs::remove(cfg_.directory + "/" + marker_file, ec);
  if (ec) return backend_error{errc::backend_error, "cannot remove the replica marker: " + ec.message()};
  if (auto ok = sync_dir(cfg_.directory); !ok) return ok;
  auto stamp = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto aside = cfg_.directory + "/" + std::to_string(stamp) + ".damaged";
  fs::create_directory(aside, ec);
  if (ec) return backend_error{errc::backend_error, "cannot create " + aside + ": " + ec.message()};
  // The log continues the newest snapshot: both go, together.
  for (auto& snap : list_dir(cfg_.directory, "snapshot-")) {
    fs::rename(cfg_.directory + "/" + snap, aside + "/" + snap, ec);
    if (ec) return backend_error{errc::backend_error, "cannot move " + snap + ": " + ec.message()};
  }
  fs::rename(wal, aside + "/wal", ec);
  if (ec) return backend_error{errc::backend_error, "cannot move " + wal + ": " + ec.message()};
  if (auto ok = sync_dir(aside); !ok) return ok;
  if (auto ok = sync_dir(cfg_.directory); !ok) return ok;
  collections_.clear();
  lsn_ = 0;
  {
    std::lock_guard guard{load_mutex_};
    damage_ = "log " + wal + " was damaged at byte " + std::to_string(scan.end) + " ("
              + scan.reason + "); set aside in " + aside;
  }
  log().error("vector store {}: the damaged log and its snapshot are in {}; the store starts "
              "empty and waits to be rebuilt",
              cfg_.directory, aside);
  return {};
}

std::string hnsw_backend::damage() const {
  std::lock_guard guard{load_mutex_};
  return damage_;
}

} // namespace lifeline
