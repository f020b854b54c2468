// The vector store's calls: the write pipeline (log, sync, apply in log
// order), the writes and the reads. Loading is in hnsw_backend_load.cpp,
// snapshots and rebuilds in hnsw_backend_maintenance.cpp.
#include "backends/hnsw_backend.hpp"

#include "backends/hnsw/records.hpp"
#include "backends/hnsw_backend_detail.hpp"
#include "core/validation.hpp"
#include "io/atomic_file.hpp"
#include "io/files.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unistd.h>

namespace lifeline {

using namespace hnsw;
using namespace hnsw_backend_detail;
using io::read_file_if_exists;
using io::write_file_atomic;

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

// -- the write pipeline and the load state --------------------------------------------

namespace {

bool commute(const write_keys& a, const write_keys& b) {
  if (a.barrier || b.barrier) return false;
  if (a.collection != b.collection) return true;
  // Both sorted: any id in common?
  auto i = a.ids.begin();
  auto j = b.ids.begin();
  while (i != a.ids.end() && j != b.ids.end()) {
    if (*i < *j) ++i;
    else if (*j < *i) ++j;
    else return false;
  }
  return true;
}

write_keys keys_of(const std::string& collection, std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return {collection, std::move(ids), false};
}

write_keys barrier() { return {{}, {}, true}; }

} // namespace

expected<uint64_t> hnsw_backend::log_record(const std::string& payload, write_keys keys) {
  auto ticket = log_->append(payload);
  if (!ticket) return ticket.error();
  ++lsn_;
  std::lock_guard guard{apply_mutex_};
  unapplied_.emplace(*ticket, std::move(keys));
  return *ticket;
}

expected<void> hnsw_backend::apply_in_order(uint64_t ticket, const std::function<void()>& apply) {
  std::unique_lock guard{apply_mutex_};
  // The records before this one are synced too (a sync covers every record
  // before its own), so their writers are applying them or about to. Wait
  // for those this one does not commute with: then applying this one now
  // leaves the state a replay in log order would.
  applied_cv_.wait(guard, [&] {
    auto& mine = unapplied_.at(ticket);
    for (auto it = unapplied_.begin(); it != unapplied_.end() && it->first < ticket; ++it)
      if (!commute(it->second, mine)) return false;
    return true;
  });
  guard.unlock();
  std::string failure;
  try {
    apply();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  guard.lock();
  unapplied_.erase(ticket);
  applied_cv_.notify_all();
  guard.unlock();
  if (!failure.empty()) {
    // Logged but not applied: memory and log differ until a reload.
    fail_store("a logged write could not be applied: " + failure);
    return backend_error{errc::backend_error, "cannot apply the write: " + failure};
  }
  return {};
}

void hnsw_backend::abandon(uint64_t ticket) {
  std::lock_guard guard{apply_mutex_};
  unapplied_.erase(ticket);
  applied_cv_.notify_all();
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
  applied_cv_.wait(guard, [&] { return unapplied_.empty(); });
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
// one fdatasync), and only then applies it to memory: after every earlier
// record it does not commute with (apply_in_order). Upserts and removes of
// distinct ids commute, so concurrent batches insert in parallel
// (collection::upsert); creates, drops and purges are ordered with
// everything. So nothing is visible before it is on disk: a write
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
  auto ticket = log_record(encode_create(lsn_ + 1, spec), barrier());
  if (!ticket) return ticket.error();
  if (auto synced = sync_record(*ticket); !synced) {
    abandon(*ticket);
    return synced.error();
  }
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
  auto ticket = log_record(encode_drop(lsn_ + 1, name), barrier());
  if (!ticket) return ticket.error();
  if (auto synced = sync_record(*ticket); !synced) {
    abandon(*ticket);
    return synced;
  }
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
  std::vector<std::string> ids;
  ids.reserve(kept);
  for (size_t i = 0; i < docs.size(); ++i)
    if (keep[i]) ids.push_back(docs[i].id);
  auto ticket = log_record(rec, keys_of(name, std::move(ids)));
  if (!ticket) return ticket.error();
  w.unlock();
  if (log_->size_bytes() > cfg_.snapshot_log_bytes) maintenance_cv_.notify_one();
  if (auto synced = sync_record(*ticket); !synced) {
    abandon(*ticket);
    return synced;
  }
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
  auto ticket = log_record(encode_remove(lsn_ + 1, name, id, version), keys_of(name, {id}));
  if (!ticket) return ticket.error();
  w.unlock();
  if (auto ok = sync_record(*ticket); !ok) {
    abandon(*ticket);
    return ok.error();
  }
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
  auto ticket = log_record(encode_purge(lsn_ + 1, up_to), barrier());
  if (!ticket) return ticket.error();
  w.unlock();
  if (auto ok = sync_record(*ticket); !ok) {
    abandon(*ticket);
    return ok.error();
  }
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

} // namespace lifeline
