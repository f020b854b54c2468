#include "backends/hnsw_backend.hpp"

#include "backends/hnsw/records.hpp"
#include "backends/hnsw/snapshot.hpp"
#include "core/validation.hpp"
#include "io/atomic_file.hpp"
#include "io/files.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <unistd.h>

namespace lifeline {

namespace fs = std::filesystem;
using namespace hnsw;
using io::list_dir;
using io::read_file_if_exists;
using io::sync_dir;
using io::write_file_atomic;

namespace {

enum : int { loading = 0, ready_state = 1, failed_state = 2 };

constexpr const char* marker_file = "replica-marker";

backend_error corrupt(std::string what) { return {errc::corrupt_response, std::move(what)}; }

std::string snapshot_name(uint64_t lsn) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "snapshot-%020llu", (unsigned long long) lsn);
  return buf;
}

} // namespace

hnsw_backend::hnsw_backend(hnsw_config cfg)
  : cfg_(std::move(cfg)),
    snapshot_backoff_(cfg_.snapshot_retry_initial, cfg_.snapshot_retry_max) {
  if (cfg_.threads == 0) cfg_.threads = 1;
  loader_ = std::thread{[this] { load(); }};
  if (cfg_.maintenance_thread) maintenance_ = std::thread{[this] { maintenance_loop(); }};
}

hnsw_backend::~hnsw_backend() {
  {
    std::lock_guard guard{maintenance_mutex_};
    stopping_ = true;
  }
  maintenance_cv_.notify_all();
  if (loader_.joinable()) loader_.join();
  if (maintenance_.joinable()) maintenance_.join();
  log_.reset(); // syncs the log: every applied write is on disk
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

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

expected<uint64_t> hnsw_backend::log_record(const std::string& payload) {
  auto ticket = log_->append(payload);
  if (!ticket) return ticket.error();
  ++lsn_;
  last_ticket_ = *ticket;
  return *ticket;
}

expected<void> hnsw_backend::apply_in_order(uint64_t ticket, const std::function<void()>& apply) {
  std::unique_lock guard{apply_mutex_};
  // The records before this one are synced (a sync covers every record
  // before its own), so their writers are applying them or about to.
  applied_cv_.wait(guard, [&] { return applied_ + 1 >= ticket; });
  try {
    apply();
  } catch (const std::exception& e) {
    applied_ = ticket;
    applied_cv_.notify_all();
    guard.unlock();
    // Logged but not applied: memory and log differ until a reload.
    fail_store(std::string{"a logged write could not be applied: "} + e.what());
    return backend_error{errc::backend_error, std::string{"cannot apply the write: "} + e.what()};
  }
  applied_ = ticket;
  applied_cv_.notify_all();
  return {};
}

expected<void> hnsw_backend::sync_record(uint64_t ticket) {
  auto synced = log_->sync(ticket);
  if (!synced && !log_failure_reported_.exchange(true))
    log().error("vector store {}: the write-ahead log cannot be synced ({}): the write is "
                "refused and not applied; the store takes no more writes and its probe fails "
                "until it is restarted",
                cfg_.directory, synced.error().message);
  return synced;
}

expected<void> hnsw_backend::settle_all() {
  if (auto ok = log_->sync_all(); !ok) return ok;
  std::unique_lock guard{apply_mutex_};
  applied_cv_.wait(guard, [&] { return applied_ >= last_ticket_; });
  return {};
}

void hnsw_backend::fail_store(const std::string& why) {
  log().error("vector store {}: {}; it serves nothing until it is reloaded", cfg_.directory, why);
  std::lock_guard guard{load_mutex_};
  load_error_ = why;
  state_ = failed_state;
}

expected<void> hnsw_backend::wait_loaded() {
  std::unique_lock guard{load_mutex_};
  loaded_.wait(guard, [&] { return state_ != loading; });
  if (state_ == failed_state) return corrupt(load_error_);
  return {};
}

expected<void> hnsw_backend::ready() const {
  switch (state_.load()) {
    case ready_state: return {};
    case loading:
      return backend_error{errc::backend_unavailable,
                           "loading (" + std::to_string(load_done_.load()) + "/"
                             + std::to_string(load_total_.load()) + " collections)"};
    default: {
      std::lock_guard guard{load_mutex_};
      return corrupt("store cannot be loaded: " + load_error_);
    }
  }
}

expected<hnsw_backend::collection_ptr> hnsw_backend::find(const std::string& name) const {
  std::shared_lock guard{collections_mutex_};
  auto it = collections_.find(name);
  if (it == collections_.end())
    return backend_error{errc::not_found, "collection '" + name + "' does not exist"};
  return it->second;
}

// -- writes ----------------------------------------------------------------------------
//
// Each write runs under writes_: it decides against the current state and
// logs its record (log order is ticket order). Then, without the lock, it
// waits for the record's sync (group commit: writers waiting together share
// one fdatasync), and only then applies it to memory, in ticket order
// (apply_in_order). So nothing is visible before it is on disk: a write
// whose sync failed is never applied, never read and never in a snapshot
// (the log is poisoned then, the probe reports it and the write is refused).
// Records decided against a state that lacks writes still waiting for their
// sync are re-decided when applied, by the same last-writer-wins rules
// replay uses, in the same order: memory always equals a replay of the log.
// Collection creates and drops hold writes_ until they are applied, so a
// write never names a collection that is still pending.
//
// A write that would change nothing (older than what is stored) is not
// logged; it still waits until everything logged so far is on disk, as the
// state that made it a no-op may not be yet.

expected<bool> hnsw_backend::create_collection(const collection_spec& spec) {
  if (auto ok = validate_spec(spec); !ok) return ok.error();
  if (auto ok = ready(); !ok) return ok.error();
  std::unique_lock w{writes_};
  if (auto existing = find(spec.name)) {
    if (!((*existing)->spec() == spec))
      return backend_error{errc::conflict, "collection '" + spec.name + "' exists with another spec"};
    // Applied, hence synced; still wait for whatever was logged before.
    w.unlock();
    if (auto synced = log_->sync_all(); !synced) return synced.error();
    return false;
  }
  // Everything that can fail happens before the record is logged.
  auto created = std::make_shared<collection>(spec, cfg_.index);
  auto ticket = log_record(encode_create(lsn_ + 1, spec));
  if (!ticket) return ticket.error();
  if (auto synced = sync_record(*ticket); !synced) return synced.error();
  auto applied = apply_in_order(*ticket, [&] {
    std::unique_lock guard{collections_mutex_};
    collections_.emplace(spec.name, std::move(created));
  });
  if (!applied) return applied.error();
  return true;
}

expected<void> hnsw_backend::drop_collection(const std::string& name) {
  if (auto ok = ready(); !ok) return ok;
  std::unique_lock w{writes_};
  if (auto c = find(name); !c) return c.error();
  auto ticket = log_record(encode_drop(lsn_ + 1, name));
  if (!ticket) return ticket.error();
  if (auto synced = sync_record(*ticket); !synced) return synced;
  return apply_in_order(*ticket, [&] {
    std::unique_lock guard{collections_mutex_};
    collections_.erase(name);
  });
}

expected<void> hnsw_backend::upsert(const std::string& name, const std::vector<document>& docs) {
  if (auto ok = ready(); !ok) return ok;
  auto c = find(name);
  if (!c) return c.error();
  for (auto& d : docs)
    if (auto ok = validate_document(d, (*c)->spec().dimension); !ok) return ok;
  std::unique_lock w{writes_};
  if (auto again = find(name); !again || *again != *c) // dropped meanwhile
    return backend_error{errc::not_found, "collection '" + name + "' does not exist"};
  // A document older than what is stored now is older still when the
  // record is applied (versions only grow): leave it out of the record.
  auto keep = (*c)->accepts(docs);
  auto kept = size_t(std::count(keep.begin(), keep.end(), true));
  if (kept == 0) {
    w.unlock();
    return log_->sync_all();
  }
  auto rec = encode_upsert(lsn_ + 1, name, docs, keep);
  // Grow the index before logging: a failed allocation refuses the write
  // instead of leaving a logged write half applied.
  try {
    (*c)->reserve(kept);
  } catch (const std::exception& e) {
    return backend_error{errc::backend_error, std::string{"cannot grow the index: "} + e.what()};
  }
  auto ticket = log_record(rec);
  if (!ticket) return ticket.error();
  w.unlock();
  if (log_->size_bytes() > cfg_.snapshot_log_bytes) maintenance_cv_.notify_one();
  if (auto synced = sync_record(*ticket); !synced) return synced;
  return apply_in_order(*ticket, [&] {
    if (kept == docs.size()) return (*c)->upsert(docs);
    std::vector<document> newer;
    newer.reserve(kept);
    for (size_t i = 0; i < docs.size(); ++i)
      if (keep[i]) newer.push_back(docs[i]);
    (*c)->upsert(newer);
  });
}

expected<bool> hnsw_backend::remove(const std::string& name, const std::string& id,
                                    uint64_t version) {
  if (auto ok = validate_id(id); !ok) return ok.error();
  if (auto ok = validate_version(version); !ok) return ok.error();
  if (auto ok = ready(); !ok) return ok.error();
  std::unique_lock w{writes_};
  auto c = find(name);
  if (!c) return c.error();
  if (!(*c)->remove_changes(id, version)) {
    w.unlock();
    if (auto ok = log_->sync_all(); !ok) return ok.error();
    return false;
  }
  auto ticket = log_record(encode_remove(lsn_ + 1, name, id, version));
  if (!ticket) return ticket.error();
  w.unlock();
  if (auto ok = sync_record(*ticket); !ok) return ok.error();
  bool removed = false;
  auto applied = apply_in_order(*ticket, [&] { removed = (*c)->remove(id, version); });
  if (!applied) return applied.error();
  return removed;
}

expected<uint64_t> hnsw_backend::purge_tombstones(uint64_t up_to) {
  if (auto ok = ready(); !ok) return ok.error();
  std::unique_lock w{writes_};
  // Creates and drops are applied under writes_: this is the set the purge
  // record meets when it is applied (and replayed).
  std::vector<collection_ptr> all;
  {
    std::shared_lock guard{collections_mutex_};
    for (auto& [name, c] : collections_) all.push_back(c);
  }
  uint64_t due = 0;
  for (auto& c : all) due += c->tombstones_up_to(up_to);
  if (due == 0) {
    w.unlock();
    if (auto ok = log_->sync_all(); !ok) return ok.error();
    return uint64_t{0};
  }
  auto ticket = log_record(encode_purge(lsn_ + 1, up_to));
  if (!ticket) return ticket.error();
  w.unlock();
  if (auto ok = sync_record(*ticket); !ok) return ok.error();
  uint64_t purged = 0;
  auto applied = apply_in_order(*ticket, [&] {
    for (auto& c : all) purged += c->purge_tombstones(up_to);
  });
  if (!applied) return applied.error();
  return purged;
}

expected<void> hnsw_backend::set_replica_marker(const std::string& marker) {
  if (auto ok = ready(); !ok) return ok;
  std::lock_guard guard{marker_mutex_};
  return write_file_atomic(cfg_.directory + "/" + marker_file, marker);
}

expected<std::string> hnsw_backend::replica_marker() {
  if (auto ok = ready(); !ok) return ok.error();
  return read_file_if_exists(cfg_.directory + "/" + marker_file);
}

// -- reads -------------------------------------------------------------------------------

expected<std::vector<collection_spec>> hnsw_backend::list_collections() {
  if (auto ok = ready(); !ok) return ok.error();
  std::shared_lock guard{collections_mutex_};
  std::vector<collection_spec> out;
  for (auto& [name, c] : collections_) out.push_back(c->spec());
  return out;
}

expected<collection_stats> hnsw_backend::collection_stats(const std::string& name) {
  if (auto ok = ready(); !ok) return ok.error();
  auto c = find(name);
  if (!c) return c.error();
  return lifeline::collection_stats{(*c)->spec(), (*c)->count()};
}

expected<document> hnsw_backend::get(const std::string& name, const std::string& id) {
  if (auto ok = validate_id(id); !ok) return ok.error();
  if (auto ok = ready(); !ok) return ok.error();
  auto c = find(name);
  if (!c) return c.error();
  return (*c)->get(id);
}

expected<std::vector<document>> hnsw_backend::scan(const scan_request& request) {
  if (auto ok = validate_scan(request); !ok) return ok.error();
  if (auto ok = ready(); !ok) return ok.error();
  auto c = find(request.collection);
  if (!c) return c.error();
  return (*c)->scan(request.after, request.limit, request.with_payload);
}

expected<std::vector<version_entry>> hnsw_backend::versions(const range_request& request) {
  if (auto ok = validate_range(request); !ok) return ok.error();
  if (auto ok = ready(); !ok) return ok.error();
  auto c = find(request.collection);
  if (!c) return c.error();
  return (*c)->versions(request.after, request.up_to, request.limit);
}

expected<range_digest> hnsw_backend::digest(const range_request& request) {
  if (auto ok = validate_range(request); !ok) return ok.error();
  if (auto ok = ready(); !ok) return ok.error();
  auto c = find(request.collection);
  if (!c) return c.error();
  return (*c)->digest(request.after, request.up_to, request.limit);
}

expected<std::vector<search_hit>> hnsw_backend::search(const search_query& query) {
  if (auto ok = ready(); !ok) return ok.error();
  auto c = find(query.collection);
  if (!c) return c.error();
  if (auto ok = validate_query(query, (*c)->spec().dimension); !ok) return ok.error();
  return (*c)->search(query.vector, query.k, query.ef);
}

expected<void> hnsw_backend::probe() {
  if (auto ok = ready(); !ok) return ok;
  // A log that cannot be written takes no writes: report it, so that the
  // coordinator stops sending traffic here instead of serving reads that
  // can no longer be kept up to date.
  if (auto failure = log_->failure(); !failure.empty())
    return backend_error{errc::backend_error, "write-ahead log failed: " + failure};
  return {};
}

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

std::string hnsw_backend::damage() const {
  std::lock_guard guard{load_mutex_};
  return damage_;
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
