#include "backends/hnsw_backend.hpp"

#include "backends/hnsw/binary_io.hpp"
#include "backends/hnsw/files.hpp"
#include "backends/validation.hpp"
#include "metrics/log.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <unistd.h>

namespace lifeline {

namespace fs = std::filesystem;
using namespace hnsw;

namespace {

enum : int { loading = 0, ready_state = 1, failed_state = 2 };

enum record_type : uint8_t { rec_create = 1, rec_drop = 2, rec_upsert = 3, rec_remove = 4 };

constexpr uint64_t snapshot_magic = 0x31504e534c4c4946; // "FILLSNP1"
constexpr uint32_t max_ef = 100000;

backend_error corrupt(std::string what) { return {error_kind::corrupt, std::move(what)}; }

std::string snapshot_name(uint64_t lsn) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "snapshot-%020llu", (unsigned long long) lsn);
  return buf;
}

void write_doc(writer& w, const document& d) {
  w.str(d.id);
  w.floats(d.vector);
  w.str(d.content);
  w.str(d.metadata);
  w.u64(d.version);
}

std::optional<document> read_doc(reader& r) {
  auto id = r.str();
  auto v = r.floats();
  auto content = r.str();
  auto metadata = r.str();
  auto version = r.u64();
  if (!r.ok()) return std::nullopt;
  return document{std::move(*id), std::move(*v), std::move(*content), std::move(*metadata), *version};
}

expected<uint32_t> crc_of_file(const std::string& path) {
  auto data = read_file(path);
  if (!data) return data.error();
  return crc32(data->data(), data->size());
}

} // namespace

hnsw_backend::hnsw_backend(hnsw_config cfg) : cfg_(std::move(cfg)) {
  if (cfg_.threads == 0) cfg_.threads = 1;
  loader_ = std::thread{[this] { load(); }};
  maintenance_ = std::thread{[this] { maintenance_loop(); }};
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
  uint64_t snapshot_lsn = 0;
  auto snaps = list_dir(cfg_.directory, "snapshot-");
  if (!snaps.empty()) {
    auto dir = cfg_.directory + "/" + snaps.back();
    auto manifest = read_file(dir + "/manifest");
    if (!manifest) return fail(manifest.error().message);
    if (manifest->size() < 4) return fail("snapshot " + dir + ": manifest is damaged");
    uint32_t stored_crc;
    std::memcpy(&stored_crc, manifest->data() + manifest->size() - 4, 4);
    std::string_view body{manifest->data(), manifest->size() - 4};
    if (crc32(body.data(), body.size()) != stored_crc)
      return fail("snapshot " + dir + ": manifest checksum mismatch");
    reader r{body};
    auto magic = r.u64();
    auto lsn = r.u64();
    auto n = r.u32();
    if (!r.ok() || *magic != snapshot_magic) return fail("snapshot " + dir + ": not a snapshot");
    snapshot_lsn = *lsn;
    load_total_ = *n;
    for (uint32_t i = 0; i < *n; ++i) {
      auto name = r.str();
      auto dim = r.u32();
      auto m = r.u8();
      auto index_file = r.str();
      auto index_crc = r.u32();
      auto meta_file = r.str();
      auto meta_crc = r.u32();
      if (!r.ok() || *m > 2) return fail("snapshot " + dir + ": manifest is damaged");
      collection_spec spec{*name, *dim, static_cast<metric>(*m)};
      // Checksums first: hnswlib trusts whatever file it is given.
      auto icrc = crc_of_file(dir + "/" + *index_file);
      if (!icrc || *icrc != *index_crc)
        return fail("snapshot " + dir + ": index of '" + spec.name + "' is damaged");
      auto meta = read_file(dir + "/" + *meta_file);
      if (!meta || crc32(meta->data(), meta->size()) != *meta_crc)
        return fail("snapshot " + dir + ": documents of '" + spec.name + "' are damaged");
      auto c = collection::load(spec, cfg_.index, dir + "/" + *index_file, *meta);
      if (!c) return fail("snapshot " + dir + ": " + c.error().message);
      log().info("vector store {}: loaded collection {} ({} documents), {}/{}", cfg_.directory,
                 spec.name, (*c)->count(), i + 1, *n);
      collections_.emplace(spec.name, std::move(*c));
      ++load_done_;
    }
    lsn_ = snapshot_lsn;
  }
  uint64_t replayed = 0;
  auto opened = write_ahead_log::open(
    cfg_.directory + "/wal", cfg_.log,
    [&](std::string_view payload) {
      if (++replayed % 100000 == 0)
        log().info("vector store {}: replayed {} log records", cfg_.directory, replayed);
      return apply_record(payload, snapshot_lsn);
    },
    [](const std::string& warning) { log().warn("vector store: {}", warning); });
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

expected<void> hnsw_backend::apply_record(std::string_view payload, uint64_t snapshot_lsn) {
  reader r{payload};
  auto lsn = r.u64();
  auto type = r.u8();
  if (!r.ok()) return corrupt("record header is damaged");
  if (*lsn <= snapshot_lsn) return {}; // already in the snapshot
  lsn_ = std::max(lsn_, *lsn);
  switch (*type) {
    case rec_create: {
      auto name = r.str();
      auto dim = r.u32();
      auto m = r.u8();
      if (!r.ok() || *m > 2) return corrupt("create record is damaged");
      collection_spec spec{*name, *dim, static_cast<metric>(*m)};
      collections_.try_emplace(spec.name, std::make_shared<collection>(spec, cfg_.index));
      return {};
    }
    case rec_drop: {
      auto name = r.str();
      if (!r.ok()) return corrupt("drop record is damaged");
      collections_.erase(*name);
      return {};
    }
    case rec_upsert: {
      auto name = r.str();
      auto n = r.u32();
      if (!r.ok()) return corrupt("upsert record is damaged");
      std::vector<document> docs;
      for (uint32_t i = 0; i < *n; ++i) {
        auto d = read_doc(r);
        if (!d) return corrupt("upsert record is damaged");
        docs.push_back(std::move(*d));
      }
      auto it = collections_.find(*name);
      if (it == collections_.end()) return corrupt("upsert into unknown collection " + *name);
      for (auto& d : docs)
        if (d.vector.size() != it->second->spec().dimension)
          return corrupt("upsert record has the wrong dimension");
      it->second->upsert(docs);
      return {};
    }
    case rec_remove: {
      auto name = r.str();
      auto id = r.str();
      if (!r.ok()) return corrupt("remove record is damaged");
      if (auto it = collections_.find(*name); it != collections_.end()) it->second->remove(*id);
      return {};
    }
    default:
      return corrupt("unknown record type " + std::to_string(*type));
  }
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
      return backend_error{error_kind::unavailable,
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
    return backend_error{error_kind::not_found, "collection '" + name + "' does not exist"};
  return it->second;
}

// -- writes ----------------------------------------------------------------------------

expected<void> hnsw_backend::create_collection(const collection_spec& spec) {
  if (auto ok = validate_spec(spec); !ok) return ok;
  if (auto ok = ready(); !ok) return ok;
  std::unique_lock w{writes_};
  if (auto existing = find(spec.name)) {
    if (!((*existing)->spec() == spec))
      return backend_error{error_kind::conflict, "collection '" + spec.name + "' exists with another spec"};
    // Acknowledge only once the record that created it is on disk (another
    // caller's create may still be waiting for its sync).
    w.unlock();
    return log_->sync_all();
  }
  writer rec;
  rec.u64(lsn_ + 1);
  rec.u8(rec_create);
  rec.str(spec.name);
  rec.u32(spec.dimension);
  rec.u8(static_cast<uint8_t>(spec.metric));
  // Everything that can fail happens before the record is logged.
  auto created = std::make_shared<collection>(spec, cfg_.index);
  auto ticket = log_->append(rec.bytes());
  if (!ticket) return ticket.error();
  ++lsn_;
  {
    std::unique_lock guard{collections_mutex_};
    collections_.emplace(spec.name, std::move(created));
  }
  w.unlock();
  return log_->sync(*ticket);
}

expected<void> hnsw_backend::drop_collection(const std::string& name) {
  if (auto ok = ready(); !ok) return ok;
  std::unique_lock w{writes_};
  if (auto c = find(name); !c) return c.error();
  writer rec;
  rec.u64(lsn_ + 1);
  rec.u8(rec_drop);
  rec.str(name);
  auto ticket = log_->append(rec.bytes());
  if (!ticket) return ticket.error();
  ++lsn_;
  {
    std::unique_lock guard{collections_mutex_};
    collections_.erase(name);
  }
  w.unlock();
  return log_->sync(*ticket);
}

expected<void> hnsw_backend::upsert(const std::string& name, const std::vector<document>& docs) {
  if (auto ok = ready(); !ok) return ok;
  auto c = find(name);
  if (!c) return c.error();
  for (auto& d : docs)
    if (auto ok = validate_document(d, (*c)->spec().dimension); !ok) return ok;
  writer rec;
  std::unique_lock w{writes_};
  if (auto again = find(name); !again || *again != *c) // dropped meanwhile
    return backend_error{error_kind::not_found, "collection '" + name + "' does not exist"};
  rec.u64(lsn_ + 1);
  rec.u8(rec_upsert);
  rec.str(name);
  rec.u32(uint32_t(docs.size()));
  for (auto& d : docs) write_doc(rec, d);
  // Grow the index before logging: a failed allocation refuses the write
  // instead of leaving a logged write half applied.
  try {
    (*c)->reserve(docs.size());
  } catch (const std::exception& e) {
    return backend_error{error_kind::failed, std::string{"cannot grow the index: "} + e.what()};
  }
  auto ticket = log_->append(rec.bytes());
  if (!ticket) return ticket.error();
  ++lsn_;
  (*c)->upsert(docs);
  w.unlock();
  if (log_->size_bytes() > cfg_.snapshot_log_bytes) maintenance_cv_.notify_one();
  return log_->sync(*ticket);
}

expected<void> hnsw_backend::remove(const std::string& name, const std::string& id) {
  if (auto ok = validate_id(id); !ok) return ok;
  if (auto ok = ready(); !ok) return ok;
  std::unique_lock w{writes_};
  auto c = find(name);
  if (!c) return c.error();
  if (!(*c)->get(id)) return backend_error{error_kind::not_found, "document '" + id + "' does not exist"};
  writer rec;
  rec.u64(lsn_ + 1);
  rec.u8(rec_remove);
  rec.str(name);
  rec.str(id);
  auto ticket = log_->append(rec.bytes());
  if (!ticket) return ticket.error();
  ++lsn_;
  (*c)->remove(id);
  w.unlock();
  return log_->sync(*ticket);
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

expected<std::vector<search_hit>> hnsw_backend::search(const search_query& query) {
  if (auto ok = ready(); !ok) return ok.error();
  auto c = find(query.collection);
  if (!c) return c.error();
  if (auto ok = validate_query(query, (*c)->spec().dimension); !ok) return ok.error();
  if (query.ef > max_ef)
    return backend_error{error_kind::invalid_argument, "ef must be at most " + std::to_string(max_ef)};
  return (*c)->search(query.vector, query.k, query.ef);
}

expected<void> hnsw_backend::probe() {
  if (auto ok = ready(); !ok) return ok;
  // A log that cannot be written takes no writes: report it, so that the
  // coordinator stops sending traffic here instead of serving reads that
  // can no longer be kept up to date.
  if (auto failure = log_->failure(); !failure.empty())
    return backend_error{error_kind::failed, "write-ahead log failed: " + failure};
  return {};
}

// -- maintenance ---------------------------------------------------------------------------

expected<void> hnsw_backend::snapshot() {
  if (auto ok = ready(); !ok) return ok;
  // Writes wait while the snapshot is written; reads go on.
  std::lock_guard w{writes_};
  if (fs::exists(cfg_.directory + "/" + snapshot_name(lsn_)) && log_->size_bytes() == 0)
    return {}; // nothing new since the last snapshot
  auto tmp = cfg_.directory + "/snapshot.tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) return backend_error{error_kind::failed, "cannot create " + tmp + ": " + ec.message()};
  writer manifest;
  manifest.u64(snapshot_magic);
  manifest.u64(lsn_);
  std::shared_lock guard{collections_mutex_};
  manifest.u32(uint32_t(collections_.size()));
  size_t i = 0;
  for (auto& [name, c] : collections_) {
    auto index_file = "c" + std::to_string(i) + ".hnsw";
    auto meta_file = "c" + std::to_string(i++) + ".meta";
    std::string meta;
    try {
      meta = c->save(tmp + "/" + index_file);
    } catch (const std::exception& e) {
      return backend_error{error_kind::failed, std::string{"writing a snapshot: "} + e.what()};
    }
    // hnswlib does not check its stream: a full disk would leave a short file
    // whose checksum matches. Compare with the size the index must have.
    std::error_code size_ec;
    if (fs::file_size(tmp + "/" + index_file, size_ec) != c->saved_index_bytes() || size_ec)
      return backend_error{error_kind::failed, "writing a snapshot: the index file of '" + name
                                                 + "' is incomplete (disk full?)"};
    if (auto ok = sync_file(tmp + "/" + index_file); !ok) return ok;
    if (auto ok = write_file_synced(tmp + "/" + meta_file, meta); !ok) return ok;
    auto icrc = crc_of_file(tmp + "/" + index_file);
    if (!icrc) return icrc.error();
    manifest.str(name);
    manifest.u32(c->spec().dimension);
    manifest.u8(static_cast<uint8_t>(c->spec().metric));
    manifest.str(index_file);
    manifest.u32(*icrc);
    manifest.str(meta_file);
    manifest.u32(crc32(meta.data(), meta.size()));
  }
  auto body = manifest.bytes();
  uint32_t crc = crc32(body.data(), body.size());
  body.append(reinterpret_cast<const char*>(&crc), 4);
  if (auto ok = write_file_synced(tmp + "/manifest", body); !ok) return ok;
  if (auto ok = sync_dir(tmp); !ok) return ok;
  auto final_dir = cfg_.directory + "/" + snapshot_name(lsn_);
  if (fs::exists(final_dir)) {
    // Same record number, but the log holds records again (e.g. replayed
    // ones): move the old one aside rather than delete it before the rename.
    fs::rename(final_dir, final_dir + ".old", ec);
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) return backend_error{error_kind::failed, "cannot rename the snapshot: " + ec.message()};
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

void hnsw_backend::maintenance_loop() {
  std::unique_lock guard{maintenance_mutex_};
  while (!stopping_) {
    maintenance_cv_.wait_for(guard, cfg_.maintenance_interval);
    if (stopping_ || state_ != ready_state) continue;
    guard.unlock();
    try {
      if (log_->size_bytes() > cfg_.snapshot_log_bytes) {
        if (auto ok = snapshot(); !ok)
          log().error("vector store {}: snapshot failed: {}", cfg_.directory, ok.error().message);
      }
      rebuild_if_needed();
    } catch (const std::exception& e) {
      // A failed rebuild leaves the old index serving; try again later.
      log().error("vector store {}: maintenance failed: {}", cfg_.directory, e.what());
    }
    guard.lock();
  }
}

} // namespace lifeline
