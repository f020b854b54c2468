#include "backends/postgres_standbys.hpp"

#include "core/log.hpp"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <charconv>

namespace lifeline {

namespace {

/// How often the monitor refreshes each standby's position and lag.
constexpr auto monitor_interval = std::chrono::seconds(1);

} // namespace

std::optional<uint64_t> parse_lsn(const std::string& text) {
  auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  uint32_t hi = 0, lo = 0;
  auto a = std::from_chars(text.data(), text.data() + slash, hi, 16);
  auto b = std::from_chars(text.data() + slash + 1, text.data() + text.size(), lo, 16);
  if (a.ec != std::errc{} || a.ptr != text.data() + slash || b.ec != std::errc{}
      || b.ptr != text.data() + text.size())
    return std::nullopt;
  return (uint64_t{hi} << 32) | lo;
}

std::string postgres_endpoint(const std::string& dsn) {
  std::string host = "?", port = "5432";
  char* err = nullptr;
  if (auto* opts = PQconninfoParse(dsn.c_str(), &err)) {
    for (auto* o = opts; o->keyword; ++o) {
      if (!o->val || !*o->val) continue;
      std::string_view k = o->keyword;
      if (k == "host" || (k == "hostaddr" && host == "?")) host = o->val;
      else if (k == "port") port = o->val;
    }
    PQconninfoFree(opts);
  }
  if (err) PQfreemem(err);
  return host + ":" + port;
}

postgres_standbys::postgres_standbys(const postgres_config& cfg) {
  for (auto& dsn : cfg.read_replicas) {
    auto s = std::make_unique<standby>();
    s->name = postgres_endpoint(dsn);
    // Read-only: no migration (it replays the primary's schema).
    s->pool = std::make_unique<postgres_pool>(cfg, std::string{dsn}, false);
    list_.push_back(std::move(s));
  }
  monitor_ = std::thread{[this] { monitor(); }};
}

postgres_standbys::~postgres_standbys() {
  {
    std::lock_guard guard{stop_mutex_};
    stopping_ = true;
  }
  stop_cv_.notify_all();
  monitor_.join();
}

void postgres_standbys::acknowledged(uint64_t lsn) {
  auto seen = acked_.load(std::memory_order_relaxed);
  while (seen < lsn && !acked_.compare_exchange_weak(seen, lsn, std::memory_order_acq_rel)) {
  }
}

void postgres_standbys::rebase(uint64_t lsn) {
  acked_.store(lsn, std::memory_order_release);
  // Positions seen on the old timeline say nothing about the new one.
  for (auto& s : list_) s->replayed.store(0, std::memory_order_release);
}

expected<uint64_t> postgres_standbys::refresh(standby& s) {
  auto r = s.pool->call<std::pair<std::optional<uint64_t>, double>>(
    [](pqxx::connection& c) -> expected<std::pair<std::optional<uint64_t>, double>> {
      pqxx::nontransaction tx{c};
      auto row = tx.exec1("SELECT pg_last_wal_replay_lsn()::text,"
                          " COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), -1)");
      std::optional<uint64_t> lsn;
      if (!row[0].is_null()) lsn = parse_lsn(row[0].as<std::string>());
      return std::make_pair(lsn, row[1].as<double>());
    });
  std::lock_guard guard{s.mutex};
  if (!r) {
    s.reachable = false;
    s.error = r.error().message;
    return backend_error{errc::backend_unavailable, "standby " + s.name + ": " + r.error().message};
  }
  s.reachable = true;
  s.replay_age_s = r->second;
  if (!r->first) {
    // A server out of recovery (promoted) is no standby of this primary.
    s.error = "not replaying (not in recovery: promoted?)";
    return backend_error{errc::backend_unavailable, "standby " + s.name + " is " + s.error};
  }
  auto seen = s.replayed.load(std::memory_order_relaxed);
  if (*r->first > seen) s.replayed.store(*r->first, std::memory_order_release);
  s.error.clear();
  return std::max(seen, *r->first);
}

expected<void> postgres_standbys::ready(standby& s) {
  auto acked = acked_.load(std::memory_order_acquire);
  if (acked == 0)
    return backend_error{errc::backend_unavailable,
                         "standby " + s.name
                           + " cannot be trusted yet: the primary has not been reached since the"
                             " start, so the last acknowledged write's position is unknown"};
  if (s.replayed.load(std::memory_order_acquire) >= acked) return {};
  auto replayed = refresh(s);
  if (!replayed) return replayed.error();
  if (*replayed >= acked) return {};
  s.refused.fetch_add(1, std::memory_order_relaxed);
  return backend_error{errc::backend_unavailable,
                       "standby " + s.name + " is " + std::to_string(acked - *replayed)
                         + " bytes behind the last acknowledged write"};
}

expected<void> postgres_standbys::serving() {
  auto acked = acked_.load(std::memory_order_acquire);
  std::string why;
  for (auto& s : list_) {
    auto replayed = refresh(*s);
    if (replayed && acked != 0 && *replayed >= acked) return {};
    auto reason = !replayed ? replayed.error().message
                  : acked == 0 ? "standby " + s->name + " cannot be trusted yet: the last"
                                   " acknowledged write's position is unknown"
                               : "standby " + s->name + " is " + std::to_string(acked - *replayed)
                                   + " bytes behind the last acknowledged write";
    why += (why.empty() ? "" : "; ") + reason;
  }
  return backend_error{errc::backend_unavailable, why};
}

void postgres_standbys::monitor() {
  std::unique_lock guard{stop_mutex_};
  while (!stopping_) {
    guard.unlock();
    for (auto& s : list_) (void)refresh(*s);
    guard.lock();
    stop_cv_.wait_for(guard, monitor_interval, [this] { return stopping_; });
  }
}

std::vector<standby_status> postgres_standbys::status() const {
  auto acked = acked_.load(std::memory_order_acquire);
  std::vector<standby_status> out;
  for (auto& s : list_) {
    standby_status st;
    st.name = s->name;
    auto replayed = s->replayed.load(std::memory_order_acquire);
    st.reads = s->reads.load(std::memory_order_relaxed);
    st.refused = s->refused.load(std::memory_order_relaxed);
    std::lock_guard guard{s->mutex};
    st.reachable = s->reachable;
    st.error = s->error;
    if (acked != 0 && replayed != 0) {
      st.lag_bytes = replayed >= acked ? 0 : int64_t(acked - replayed);
      // Idle and caught up, the time since its last replayed commit is no lag.
      st.lag_seconds = st.lag_bytes == 0 ? 0.0 : s->replay_age_s;
    }
    st.serving = st.reachable && st.error.empty() && st.lag_bytes == 0;
    if (st.reachable && st.error.empty() && !st.serving)
      st.error = acked == 0 ? "the last acknowledged write's position is unknown yet"
                            : "behind the last acknowledged write";
    out.push_back(std::move(st));
  }
  return out;
}

} // namespace lifeline
