#include "backends/registry.hpp"

#include "backends/hnsw_backend.hpp"
#include "backends/memory_backend.hpp"
#include "backends/postgres_backend.hpp"

#include <charconv>
#include <fstream>
#include <set>

namespace lifeline {

namespace {

/// Reads settings with errors that name the backend and the key.
class reader {
public:
  reader(const std::string& backend, const backend_settings& s) : backend_(backend), s_(s) {}

  std::string text(const std::string& key, std::string fallback) {
    used_.insert(key);
    auto it = s_.find(key);
    return it == s_.end() ? fallback : it->second;
  }

  uint64_t number(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max) {
    used_.insert(key);
    auto it = s_.find(key);
    if (it == s_.end()) return fallback;
    uint64_t n = 0;
    auto& v = it->second;
    auto r = std::from_chars(v.data(), v.data() + v.size(), n);
    if (r.ec != std::errc{} || r.ptr != v.data() + v.size() || n < min || n > max)
      error_ = "backend '" + backend_ + "': " + key + " must be an integer from " + std::to_string(min)
               + " to " + std::to_string(max) + ", not '" + v + "'";
    return n;
  }

  /// An error for a bad value, or for a key no one asked for.
  std::optional<backend_error> finish() {
    if (!error_.empty()) return backend_error{errc::invalid_argument, error_};
    for (auto& [key, value] : s_)
      if (!used_.count(key))
        return backend_error{errc::invalid_argument,
                             "backend '" + backend_ + "': unknown setting '" + key + "'"};
    return std::nullopt;
  }

  void fail(std::string why) { error_ = "backend '" + backend_ + "': " + why; }

private:
  std::string backend_;
  const backend_settings& s_;
  std::set<std::string> used_;
  std::string error_;
};

expected<backend_maker> configure_postgres(const std::string& name, const backend_settings& s,
                                           const std::string&) {
  reader r{name, s};
  postgres_config cfg;
  cfg.dsn = r.text("conninfo", "");
  cfg.pool_size = uint32_t(r.number("pool_size", 4, 1, 1000));
  cfg.connect_timeout = std::chrono::seconds(r.number("connect_timeout_s", 3, 1, 600));
  cfg.statement_timeout = std::chrono::milliseconds(r.number("statement_timeout_ms", 5000, 1, 3600000));
  // 0: statement_timeout_ms plus a second (postgres_config::call_bound).
  cfg.call_timeout = std::chrono::milliseconds(r.number("call_timeout_ms", 0, 0, 3600000));
  auto password_file = r.text("password_file", "");
  // Hot standbys of the primary: one connection string per line (a TOML
  // list in the configuration file).
  for (auto replicas = r.text("read_replicas", ""); !replicas.empty();) {
    auto eol = replicas.find('\n');
    auto dsn = replicas.substr(0, eol);
    replicas = eol == std::string::npos ? "" : replicas.substr(eol + 1);
    if (dsn == "?" || dsn.empty()) r.fail("read_replicas must be a list of libpq connection strings");
    else if (dsn.find("password") != std::string::npos)
      r.fail("read_replicas must not hold passwords: the primary's password is used");
    else cfg.read_replicas.push_back(dsn);
  }
  auto replica_reads = r.text("replica_reads", "fallback");
  if (replica_reads == "prefer") cfg.prefer_replicas = true;
  else if (replica_reads != "fallback")
    r.fail("replica_reads must be \"fallback\" or \"prefer\", not '" + replica_reads + "'");
  if (cfg.read_replicas.empty() && s.count("replica_reads"))
    r.fail("replica_reads needs read_replicas");
  if (cfg.dsn.empty()) r.fail("conninfo is required (a libpq connection string without the password)");
  if (cfg.dsn.find("password") != std::string::npos)
    r.fail("conninfo must not hold the password: use password_file or LIFELINE_PG_PASSWORD_FILE");
  if (auto err = r.finish()) return *err;
  if (!password_file.empty()) {
    std::ifstream in{password_file};
    if (!in)
      return backend_error{errc::invalid_argument,
                           "backend '" + name + "': cannot read password_file " + password_file};
    std::getline(in, cfg.password);
  } else {
    cfg.password_from_env();
  }
  // A fresh client (fresh connections) on every restart.
  return backend_maker{[cfg] { return expected<std::shared_ptr<backend>>{std::make_shared<postgres_backend>(cfg)}; }};
}

expected<backend_maker> configure_hnsw(const std::string& name, const backend_settings& s,
                                       const std::string& data_dir) {
  reader r{name, s};
  hnsw_config cfg;
  cfg.directory = r.text("directory", data_dir + "/" + name);
  // Worker threads for writes (reads are direct): 8 batches in flight share
  // group commits instead of queueing behind two.
  cfg.threads = uint32_t(r.number("threads", 8, 1, 256));
  cfg.index.M = r.number("m", 16, 2, 128);
  cfg.index.ef_construction = r.number("ef_construction", 200, 8, 4096);
  cfg.index.default_ef = uint32_t(r.number("ef", 64, 1, 100000));
  cfg.snapshot_log_bytes = r.number("snapshot_log_mb", 64, 1, 1 << 20) << 20;
  auto sync = r.text("sync", "group");
  if (sync == "group") cfg.log.mode = hnsw::sync_mode::group;
  else if (sync == "per_write") cfg.log.mode = hnsw::sync_mode::per_write;
  else if (sync == "interval") cfg.log.mode = hnsw::sync_mode::interval;
  else r.fail("sync must be group, per_write or interval, not '" + sync + "'");
  if (auto err = r.finish()) return *err;
  // One store per directory, kept across actor restarts: its state is on
  // disk and in memory, not in the crashed actor.
  auto store = std::make_shared<hnsw_backend>(cfg);
  // Start-up waits for the load (it logs its progress), so that the server
  // does not open with its vector store still answering "loading". A store
  // that cannot load stays configured and reports why on every call.
  (void)store->wait_loaded();
  return backend_maker{[store] { return expected<std::shared_ptr<backend>>{store}; }};
}

expected<backend_maker> configure_memory(const std::string& name, const backend_settings& s,
                                         const std::string&) {
  reader r{name, s};
  auto threads = uint32_t(r.number("threads", 1, 1, 256));
  if (auto err = r.finish()) return *err;
  auto store = std::make_shared<memory_backend>(threads);
  return backend_maker{[store] { return expected<std::shared_ptr<backend>>{store}; }};
}

} // namespace

const std::vector<backend_kind>& backend_kinds() {
  static const std::vector<backend_kind> kinds = {
    {"postgres", configure_postgres},
    {"hnsw", configure_hnsw},
    {"memory", configure_memory},
  };
  return kinds;
}

const backend_kind* find_backend_kind(const std::string& name) {
  for (auto& k : backend_kinds())
    if (k.name == name) return &k;
  return nullptr;
}

} // namespace lifeline
