// The PostgreSQL backend's connection pool (private to postgres_backend.cpp):
// connections are opened lazily, one per concurrent call, and replaced when
// they break, so a restarted server is picked up without a restart of the
// process. Every call is bounded by postgres_config::call_bound(): waiting
// for a free connection, by its deadline; the statements, by the watchdog
// (postgres_watchdog.hpp), which shuts a stuck connection down; connecting,
// by libpq's connect_timeout. No CAF in here.
#pragma once

#include "backends/postgres_backend.hpp"
#include "backends/postgres_watchdog.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace lifeline {

/// The libpq connection string of every connection the backend opens (the
/// pool's and the asynchronous reader's): connect_timeout, keepalives,
/// tcp_user_timeout and statement_timeout set from `cfg`, password included;
/// `extra_options` are more server settings ("-c name=value ...").
std::string postgres_conninfo(const postgres_config& cfg, const std::string& extra_options = "");

/// The backend error for a failed statement's SQLSTATE and message.
backend_error postgres_error(const std::string& sqlstate, std::string message);

class postgres_pool {
public:
  using clock = postgres_watchdog::clock;

  /// Runs on every new connection once its statements are prepared (inside
  /// the call's bound); what it throws fails that call.
  using connect_hook = std::function<void(pqxx::connection&)>;

  /// `migrate`: the first connection migrates the schema (false for a
  /// standby's pool: it is read-only and replays the primary's schema).
  explicit postgres_pool(const postgres_config& cfg, bool migrate = true,
                         connect_hook on_connect = {})
    : cfg_(cfg), migrate_(migrate), on_connect_(std::move(on_connect)) {}
  /// The same, with its own connection string (a standby's).
  postgres_pool(const postgres_config& cfg, std::string dsn, bool migrate)
    : postgres_pool(with_dsn(cfg, std::move(dsn)), migrate) {}

  /// Runs `f(pqxx::connection&)` (which returns expected<T>) on a pooled
  /// connection within the call bound; maps libpqxx exceptions onto backend
  /// errors and drops a connection that broke or was abandoned.
  template <class T, class F>
  expected<T> call(F&& f);

  /// Calls the watchdog cut short so far.
  uint64_t abandoned_calls() const { return watchdog_.fired(); }

private:
  struct connection {
    explicit connection(const std::string& conninfo) : db(conninfo) {}
    pqxx::connection db;
  };
  class lease;

  /// A pooled connection, or a new one (`fresh`: not prepared yet), or an
  /// error when none is free by `deadline` or connecting fails.
  expected<std::unique_ptr<connection>> acquire(clock::time_point& deadline, bool& fresh);
  std::unique_ptr<connection> connect();
  /// Migrates the schema (once per pool) and prepares the statements.
  void prepare(connection& c);
  /// Gives a connection back (or forgets one that broke: `c` null).
  void give_back(std::unique_ptr<connection> c);
  /// The error of a call that failed with `failure` (rethrows what is not
  /// libpqxx's); sets `drop` when the connection is unusable.
  static backend_error error_from(std::exception_ptr failure, bool& drop);
  /// The answer of a call the watchdog cut short (and its log line).
  backend_error abandoned() const;

  static postgres_config with_dsn(postgres_config cfg, std::string dsn) {
    cfg.dsn = std::move(dsn);
    return cfg;
  }

  postgres_config cfg_;
  bool migrate_ = true;
  connect_hook on_connect_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<connection>> idle_;
  uint32_t open_ = 0; ///< Connections checked out or idle.
  std::atomic<bool> schema_ready_{false};
  postgres_watchdog watchdog_; ///< Last: stops before the pool goes.
};

/// A connection checked out of the pool; returned on destruction unless it
/// broke or was discarded (the next call opens a fresh one).
class postgres_pool::lease {
public:
  lease(postgres_pool& owner, std::unique_ptr<connection> c)
    : owner_(owner), conn_(std::move(c)) {}
  lease(const lease&) = delete;
  lease& operator=(const lease&) = delete;
  ~lease() {
    if (conn_ && !conn_->db.is_open()) conn_.reset();
    owner_.give_back(std::move(conn_));
  }
  connection& operator*() { return *conn_; }
  void discard() { conn_.reset(); }

private:
  postgres_pool& owner_;
  std::unique_ptr<connection> conn_;
};

template <class T, class F>
expected<T> postgres_pool::call(F&& f) {
  auto deadline = clock::now() + cfg_.call_bound();
  bool fresh = false;
  auto conn = acquire(deadline, fresh);
  if (!conn) return conn.error();
  lease l{*this, std::move(*conn)};
  // Declared after the lease: released before the connection goes back.
  // The first connection migrates the schema: that part gets its own bound.
  auto watch = watchdog_.guard((*l).db.sock(), schema_ready_ || !fresh
                                                 ? deadline
                                                 : clock::now() + cfg_.migration_timeout);
  if (!watch.armed()) {
    l.discard();
    return backend_error{errc::backend_error, "cannot watch a PostgreSQL call: no descriptors left"};
  }
  bool ready = !fresh;
  // Every transaction is scoped inside f: when f throws, libpqxx rolls it
  // back, so a pooled connection never stays in an aborted transaction.
  try {
    if (!ready) prepare(*l);
    ready = true;
    auto r = f((*l).db);
    if (watch.release()) l.discard(); // answered, but the socket is shut down now
    return r;
  } catch (...) {
    bool timed_out = watch.release();
    bool drop = timed_out || !ready; // a half-prepared connection is never pooled
    if (drop) l.discard();
    auto err = error_from(std::current_exception(), drop);
    if (drop) l.discard();
    return timed_out ? abandoned() : err;
  }
}

} // namespace lifeline
