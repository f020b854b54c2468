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

uint32_t parse_timeline(const std::string& text) {
  uint32_t tl = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), tl, 16);
  return r.ec == std::errc{} && r.ptr == text.data() + text.size() ? tl : 0;
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

void postgres_standbys::acknowledged(uint64_t lsn, uint32_t timeline) {
  std::lock_guard guard{bar_mutex_};
  if (timeline > bar_.timeline) {
    // A failover (or the first acknowledgement): positions of another
    // timeline say nothing about this one.
    bar_.moved = bar_.timeline != 0;
    bar_.timeline = timeline;
    bar_.acked = lsn;
  } else if (timeline == bar_.timeline && lsn > bar_.acked) {
    bar_.acked = lsn;
  }
}

postgres_standbys::bar postgres_standbys::bar_now() const {
  std::lock_guard guard{bar_mutex_};
  return bar_;
}


namespace {

struct replay_reading {
  bool in_recovery = false;
  std::optional<uint64_t> lsn;
  uint32_t timeline = 0; ///< Its WAL receiver's (0: none running).
  double age_s = -1;
};

} // namespace

expected<uint64_t> postgres_standbys::refresh(standby& s) {
  auto r = s.pool->call<replay_reading>([](pqxx::connection& c) -> expected<replay_reading> {
    pqxx::nontransaction tx{c};
    auto row = tx.exec1(
      "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
      " (SELECT received_tli FROM pg_stat_wal_receiver),"
      " COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), -1)");
    replay_reading out;
    out.in_recovery = row[0].as<bool>();
    if (!row[1].is_null()) out.lsn = parse_lsn(row[1].as<std::string>());
    if (!row[2].is_null()) out.timeline = row[2].as<uint32_t>();
    out.age_s = row[3].as<double>();
    return out;
  });
  std::lock_guard guard{s.mutex};
  if (!r || !r->in_recovery || !r->lsn) {
    // Not a standby we can measure (any more): trust nothing cached.
    s.replayed.store(0, std::memory_order_release);
    s.reachable = bool(r);
    s.error = !r ? r.error().message : "not replaying (not in recovery: promoted?)";
    return backend_error{errc::backend_unavailable, "standby " + s.name + ": " + s.error};
  }
  s.reachable = true;
  s.replay_age_s = r->age_s;
  if (r->timeline != 0) s.followed.store(r->timeline, std::memory_order_release);
  s.replayed.store(*r->lsn, std::memory_order_release);
  s.error.clear();
  return *r->lsn;
}

namespace {

backend_error behind(const std::string& name, uint64_t acked, uint64_t replayed) {
  return {errc::backend_unavailable, "standby " + name + " is " + std::to_string(acked - replayed)
                                       + " bytes behind the last acknowledged write"};
}

} // namespace

expected<void> postgres_standbys::ready(standby& s) {
  auto now = bar_now();
  if (now.acked == 0)
    return backend_error{errc::backend_unavailable,
                         "standby " + s.name
                           + " cannot be trusted yet: the primary has not been reached since the"
                             " start, so the last acknowledged write's position is unknown"};
  // After a failover, a position counts only on the new timeline: a standby
  // left on the old one may be further along it than the promoted one was.
  auto follows = [&] {
    return !now.moved || s.followed.load(std::memory_order_acquire) == now.timeline;
  };
  if (follows() && s.replayed.load(std::memory_order_acquire) >= now.acked) return {};
  auto replayed = refresh(s);
  if (!replayed) return replayed.error();
  if (!follows())
    return backend_error{errc::backend_unavailable,
                         "standby " + s.name + " has not shown that it follows timeline "
                           + std::to_string(now.timeline) + " since the failover"};
  if (*replayed >= now.acked) return {};
  s.refused.fetch_add(1, std::memory_order_relaxed);
  return behind(s.name, now.acked, *replayed);
}

expected<void> postgres_standbys::serving() {
  std::string why;
  for (auto& s : list_) {
    auto refreshed = refresh(*s);
    auto ok = refreshed ? ready(*s) : expected<void>{refreshed.error()};
    if (ok) return {};
    why += (why.empty() ? "" : "; ") + ok.error().message;
  }
  return backend_error{errc::backend_unavailable, why};
}

void postgres_standbys::monitor() {
  std::unique_lock guard{stop_mutex_};
  while (!stopping_) {
    for (auto& s : list_) {
      if (stopping_) break;
      guard.unlock();
      (void)refresh(*s);
      guard.lock();
    }
    stop_cv_.wait_for(guard, monitor_interval, [this] { return stopping_; });
  }
}

std::vector<standby_status> postgres_standbys::status() const {
  auto now = bar_now();
  auto acked = now.acked;
  std::vector<standby_status> out;
  for (auto& s : list_) {
    standby_status st;
    st.name = s->name;
    auto replayed = s->replayed.load(std::memory_order_acquire);
    st.reads = s->reads.load(std::memory_order_relaxed);
    st.refused = s->refused.load(std::memory_order_relaxed);
    bool follows = !now.moved || s->followed.load(std::memory_order_acquire) == now.timeline;
    std::lock_guard guard{s->mutex};
    st.reachable = s->reachable;
    st.error = s->error;
    if (st.error.empty() && !follows) st.error = "not following the new timeline yet";
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
