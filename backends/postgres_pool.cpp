#include "backends/postgres_pool.hpp"

#include "backends/postgres_schema.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <string>

namespace lifeline {

namespace pg {
/// Prepares every statement the backend runs on a new connection. Defined next
/// to the migrations (postgres_schema.cpp): each statement follows the schema.
void prepare_statements(pqxx::connection_base& c);
} // namespace pg

namespace {

std::string quote_conninfo(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string trimmed(std::string msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

backend_error from_sql_error(const pqxx::sql_error& e) {
  return postgres_error(e.sqlstate(), trimmed(e.what()));
}

} // namespace

backend_error postgres_error(const std::string& state, std::string msg) {
  if (state == "57014") return {errc::timeout, "statement timeout: " + msg};
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0)
    return {errc::backend_unavailable, msg};
  if (state.rfind("22", 0) == 0) return {errc::invalid_argument, msg};
  // The only foreign key: the collection was dropped while we wrote to it.
  if (state == "23503") return {errc::not_found, msg};
  return {errc::backend_error, msg};
}

std::string postgres_conninfo(const postgres_config& cfg_, const std::string& extra_options) {
  std::string conninfo = cfg_.dsn;
  // libpq bounds the whole handshake by connect_timeout, a frozen server's too.
  conninfo += " connect_timeout=" + std::to_string(cfg_.connect_timeout.count());
  // Notice a dead peer (not a frozen one: its kernel still answers; that is
  // the watchdog's) within seconds, not after the kernel's two hours:
  // keepalives while idle, tcp_user_timeout while sent data goes unacknowledged.
  conninfo += " keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3";
  conninfo += " tcp_user_timeout=" + std::to_string(cfg_.call_bound().count());
  conninfo += " options=" + quote_conninfo("-c statement_timeout="
                                           + std::to_string(cfg_.statement_timeout.count())
                                           + (extra_options.empty() ? "" : " " + extra_options));
  if (!cfg_.password.empty()) conninfo += " password=" + quote_conninfo(cfg_.password);
  return conninfo;
}

std::unique_ptr<postgres_pool::connection> postgres_pool::connect() {
  auto c = std::make_unique<connection>(postgres_conninfo(cfg_));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  // A broken connection is dropped, never silently reopened by libpqxx in
  // the middle of a call (on a socket the watchdog does not watch).
  c->db.inhibit_reactivation(true);
#pragma GCC diagnostic pop
  return c;
}

void postgres_pool::prepare(connection& c) {
  if (!schema_ready_) {
    if (migrate_) pg::migrate(c.db, cfg_.migration_timeout);
    schema_ready_ = true;
  }
  pg::prepare_statements(c.db);
  if (on_connect_) on_connect_(c.db);
}

expected<std::unique_ptr<postgres_pool::connection>>
postgres_pool::acquire(clock::time_point& deadline, bool& fresh) {
  {
    std::unique_lock guard{mutex_};
    // Bounded too: connections stuck on a frozen server are freed by the
    // watchdog, but a waiter must not outlive its own call's deadline.
    if (!available_.wait_until(guard, deadline,
                               [&] { return !idle_.empty() || open_ < cfg_.pool_size; }))
      return backend_error{errc::timeout, "no PostgreSQL connection free within "
                                            + std::to_string(cfg_.call_bound().count())
                                            + " ms (all " + std::to_string(cfg_.pool_size)
                                            + " are busy)"};
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
  }
  fresh = true;
  auto started = clock::now();
  try {
    auto c = connect();
    deadline += clock::now() - started; // connect_timeout bounded that part
    return c;
  } catch (const std::exception& e) {
    std::lock_guard guard{mutex_};
    --open_;
    available_.notify_one();
    return backend_error{errc::backend_unavailable, "cannot connect: " + trimmed(e.what())};
  }
}

void postgres_pool::give_back(std::unique_ptr<connection> c) {
  std::lock_guard guard{mutex_};
  if (c) idle_.push_back(std::move(c));
  else --open_;
  available_.notify_one();
}

backend_error postgres_pool::error_from(std::exception_ptr failure, bool& drop) {
  try {
    std::rethrow_exception(failure); // what is not libpqxx's goes on to the caller
  } catch (const pqxx::broken_connection& e) {
    drop = true;
    return {errc::backend_unavailable, "connection lost: " + trimmed(e.what())};
  } catch (const pqxx::sql_error& e) {
    auto err = from_sql_error(e);
    drop = drop || err.kind == errc::backend_unavailable;
    return err;
  } catch (const pqxx::in_doubt_error& e) {
    drop = true;
    return {errc::backend_error, "commit in doubt: " + trimmed(e.what())};
  } catch (const pqxx::failure& e) {
    drop = true;
    return {errc::backend_error, trimmed(e.what())};
  } catch (const pqxx::conversion_error& e) {
    return {errc::corrupt_response, trimmed(e.what())};
  }
}

backend_error postgres_pool::abandoned() const {
  auto bound = std::to_string(cfg_.call_bound().count());
  log().warn("postgres: no answer within {} ms; connection abandoned (is the server frozen?)",
             bound);
  return {errc::timeout, "no answer from PostgreSQL within " + bound + " ms; connection abandoned"};
}

} // namespace lifeline
