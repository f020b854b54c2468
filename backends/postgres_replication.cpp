// The postgres backend's view of PostgreSQL replication (issue 15): where the
// primary is and on which timeline, the WAL position of the last
// acknowledged write (what a standby must have replayed before it serves),
// the replica marker stored with its timeline, and the probe that keeps a
// backend whose primary is gone serving reads from its standbys.
//
// Timelines: a promoted standby starts a new timeline. With asynchronous
// replication the old primary's last commits may never have reached it, so
// writes Lifeline acknowledged can be missing. The marker row keeps the
// timeline it was stored on; a primary on another one makes replica_marker()
// answer "" and lost_writes() give the reason, so the coordinator verifies
// the backend (rebuilds it from an in-sync peer) before it serves reads
// again. Storing the new marker records the new timeline.
#include "backends/postgres_backend.hpp"

#include "backends/postgres_pool.hpp"
#include "backends/postgres_standbys.hpp"
#include "core/log.hpp"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace lifeline {

namespace {

/// The primary's timeline: the first 8 hex digits of its current WAL file
/// (pg_control_checkpoint() shows a new one only after the next checkpoint).
constexpr const char* timeline_sql = "substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)";

/// The primary's WAL position at or past every commit it has returned: the
/// write position, unless commits return before their record is written
/// (synchronous_commit = off), when only the insert position is.
constexpr const char* position_sql =
  "(CASE WHEN current_setting('synchronous_commit') = 'off' THEN pg_current_wal_insert_lsn()"
  " ELSE pg_current_wal_lsn() END)::text";

/// How long reads skip a primary that refused a connection.
constexpr auto primary_retry = std::chrono::seconds(1);

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

std::string optional_text(const pqxx::field& f) { return f.is_null() ? "" : f.as<std::string>(); }

} // namespace

bool postgres_backend::primary_marked_down() const {
  return steady_ns() < primary_down_until_.load(std::memory_order_relaxed);
}

void postgres_backend::mark_primary_down() {
  primary_down_until_.store(
    steady_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(primary_retry).count(),
    std::memory_order_relaxed);
  std::lock_guard guard{db_mutex_};
  db_.primary_reachable = false;
}

void postgres_backend::note_commit(pqxx::connection_base& c) {
  if (!standbys_) return;
  // After the commit: its record is at or before this position. If this
  // fails, the call fails and the write is not acknowledged (it is replayed
  // from the handoff log), so no acknowledged write goes unaccounted.
  pqxx::nontransaction tx{c};
  auto row = tx.exec1(std::string{"SELECT "} + position_sql + ", " + timeline_sql);
  auto lsn = parse_lsn(row[0].as<std::string>());
  auto timeline = parse_timeline(row[1].as<std::string>());
  if (!lsn || timeline == 0) throw pqxx::failure{"unreadable WAL position after a commit"};
  standbys_->acknowledged(*lsn, timeline);
}

void postgres_backend::observe_primary(pqxx::connection_base& c) {
  pqxx::nontransaction tx{c};
  auto row = tx.exec1(std::string{"SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery()"
                                  " THEN "}
                      + position_sql + " END, CASE WHEN NOT pg_is_in_recovery() THEN "
                      + timeline_sql
                      + " END, (SELECT value FROM lifeline_meta WHERE key = 'replica_marker_timeline')");
  auto where = c.hostname() ? std::string{c.hostname()} + ":" + (c.port() ? c.port() : "?") : "?";
  if (row[0].as<bool>()) {
    // A standby where the primary should be (no target_session_attrs=
    // read-write, or an old primary back as a standby): its reads would
    // skip the position check, so it is no primary (the connection goes).
    mark_primary_down();
    throw pqxx::broken_connection{where + " is a standby (in recovery), not the primary: list the"
                                          " primary's hosts with target_session_attrs=read-write"};
  }
  auto lsn = parse_lsn(row[1].as<std::string>());
  auto timeline = row[2].as<std::string>();
  auto stored = optional_text(row[3]);
  if (stored.empty()) {
    // The data's timeline is not recorded yet (a new database, or one from
    // before timelines were kept): it is this one.
    tx.exec_params("INSERT INTO lifeline_meta (key, value) VALUES ('replica_marker_timeline', $1)"
                   " ON CONFLICT (key) DO NOTHING",
                   timeline);
    stored = timeline;
  }
  {
    std::lock_guard guard{db_mutex_};
    db_.primary = where;
    db_.primary_reachable = true;
    db_.timeline = timeline;
    suspect_timeline(stored, timeline);
  }
  primary_down_until_.store(0, std::memory_order_relaxed);
  // Covers every write committed before; a new timeline restarts the bar.
  if (standbys_ && lsn) standbys_->acknowledged(*lsn, parse_timeline(timeline));
}

void postgres_backend::suspect_timeline(const std::string& stored, const std::string& current) {
  // A timeline verified since `stored` was read is not suspect (a new
  // connection may have read the row before the new marker was stored).
  if (stored == current || current == verified_timeline_ || !lost_writes_.empty()) return;
  lost_writes_ = "its database moved from timeline " + stored + " to " + current
                 + " (a failover): writes acknowledged on " + stored
                 + " may be missing, so it is verified before it serves reads again";
  unverified_ = true;
  log().warn("postgres: primary {} is on timeline {}, its data was stored on {}: {}",
             db_.primary, current, stored, lost_writes_);
}

bool postgres_backend::database(database_status& out) const {
  {
    std::lock_guard guard{db_mutex_};
    out = db_;
  }
  if (standbys_) out.standbys = standbys_->status();
  return true;
}

std::string postgres_backend::lost_writes() const {
  std::lock_guard guard{db_mutex_};
  return lost_writes_;
}

expected<void> postgres_backend::probe() {
  auto primary = pool_->call<void>([&](pqxx::connection& c) -> expected<void> {
    observe_primary(c);
    return {};
  });
  if (primary || !standbys_) return primary;
  if (primary.error().kind != errc::backend_unavailable && primary.error().kind != errc::timeout)
    return primary;
  if (primary.error().kind == errc::backend_unavailable) mark_primary_down();
  // No primary: still up for reads while a standby holds every acknowledged
  // write (writes fail and wait in the handoff log, which stops reads here
  // until they are replayed: the coordinator's in-sync rule).
  auto standby = standbys_->serving();
  if (standby) return {};
  return backend_error{errc::backend_unavailable,
                       "primary: " + primary.error().message + "; " + standby.error().message};
}

expected<std::string> postgres_backend::replica_marker() {
  return pool_->call<std::string>([&](pqxx::connection& c) -> expected<std::string> {
    pqxx::nontransaction tx{c};
    auto row = tx.exec1(
      std::string{"SELECT (SELECT value FROM lifeline_meta WHERE key = 'replica_marker'),"
                  " (SELECT value FROM lifeline_meta WHERE key = 'replica_marker_timeline'), "}
      + timeline_sql);
    auto marker = optional_text(row[0]), stored = optional_text(row[1]);
    auto timeline = row[2].as<std::string>();
    if (!stored.empty() && stored != timeline) {
      std::lock_guard guard{db_mutex_};
      suspect_timeline(stored, timeline);
      if (unverified_) return std::string{}; // unverified: the coordinator rebuilds it
    }
    return marker;
  });
}

expected<void> postgres_backend::set_replica_marker(const std::string& marker) {
  if (marker.find('\0') != std::string::npos)
    return backend_error{errc::invalid_argument, "replica marker contains a NUL byte"};
  return pool_->call<void>([&](pqxx::connection& c) -> expected<void> {
    pqxx::work tx{c};
    tx.exec_prepared("set_marker", marker);
    // The marker vouches for the data on the primary's current timeline.
    auto timeline = tx.exec1(std::string{"SELECT "} + timeline_sql)[0].as<std::string>();
    tx.exec_params("INSERT INTO lifeline_meta (key, value) VALUES ('replica_marker_timeline', $1)"
                   " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   timeline);
    tx.commit();
    note_commit(c);
    std::lock_guard guard{db_mutex_};
    if (!lost_writes_.empty())
      log().info("postgres: verified on timeline {}; it serves reads again", timeline);
    lost_writes_.clear();
    unverified_ = false;
    verified_timeline_ = timeline;
    db_.timeline = timeline;
    return {};
  });
}

} // namespace lifeline
