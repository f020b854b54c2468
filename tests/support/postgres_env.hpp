// The private PostgreSQL that the test command starts (scripts/pg.sh).
#pragma once

#include "backends/postgres_backend.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <memory>
#include <string>

namespace lifeline::testing {

/// Connection settings from LIFELINE_PG_DSN and the password file; fails the
/// test (never skips it) when the test command did not start PostgreSQL.
postgres_config postgres_from_env(uint32_t pool_size = 2);

/// Runs `scripts/pg.sh <action>` (kill, start, pause, resume) on that
/// cluster; returns the exit status.
int pg_control(const std::string& action);

/// A collection name no other test uses.
std::string unique_collection(const std::string& prefix);

/// A database of its own (for tests that need an empty one, or one whose
/// contents no other test touches), dropped again at the end of the test.
class scratch_database {
public:
  /// `options` follow CREATE DATABASE <name>, e.g. a locale provider.
  explicit scratch_database(const std::string& options = "")
    : admin_(postgres_from_env()), name_(unique_collection("scratch")) {
    admin().exec("CREATE DATABASE " + name_ + " " + options);
  }
  scratch_database(const scratch_database&) = delete;
  scratch_database& operator=(const scratch_database&) = delete;
  ~scratch_database() {
    try {
      admin().exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      WARN("could not drop " << name_ << ": " << e.what());
    }
  }
  /// Settings for a backend on this database.
  postgres_config config(uint32_t pool_size = 2) const {
    auto cfg = admin_;
    cfg.pool_size = pool_size;
    cfg.dsn += " dbname=" + name_; // a later keyword wins in a libpq connection string
    return cfg;
  }
  /// A plain connection to this database, for looking behind the backend.
  std::unique_ptr<pqxx::connection> connect() const {
    auto cfg = config();
    return std::make_unique<pqxx::connection>(cfg.dsn + " password='" + cfg.password + "'");
  }

private:
  struct admin_session {
    explicit admin_session(const std::string& conninfo) : c(conninfo), tx(c) {}
    pqxx::result exec(const std::string& sql) { return tx.exec(sql); }
    pqxx::connection c;
    pqxx::nontransaction tx;
  };
  admin_session admin() const {
    return admin_session{admin_.dsn + " password='" + admin_.password + "'"};
  }

  postgres_config admin_;
  std::string name_;
};

/// The libpq connection string of `db` for `lifeline serve --postgres`
/// (the password comes from LIFELINE_PG_PASSWORD_FILE).
inline std::string serve_dsn(const scratch_database& db) { return db.config().dsn; }

} // namespace lifeline::testing
