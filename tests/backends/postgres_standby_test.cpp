// A postgres backend whose conninfo lists a primary and its hot standby
// (issue 15): libpq tries the hosts in order and, with
// target_session_attrs=read-write, keeps only the primary. Run by
// tests/scripts/postgres_standby_tests.sh, which starts a real primary and a
// streaming standby (scripts/pg.sh) and runs the "[.standby]" cases; hidden
// from the other runs, which have no standby.
#include "backends/postgres_backend.hpp"
#include "support/eventually.hpp"
#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <cstdlib>
#include <future>
#include <string>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  INFO(name << " is not set: run tests/scripts/postgres_standby_tests.sh");
  REQUIRE(v != nullptr);
  return v;
}

/// A plain connection to one of the two servers.
std::unique_ptr<pqxx::connection> connect(const postgres_config& cfg, const std::string& port) {
  return std::make_unique<pqxx::connection>("host=127.0.0.1 port=" + port
                                            + " user=lifeline dbname=lifeline password='"
                                            + cfg.password + "'");
}

} // namespace

TEST_CASE("postgres backend: with its primary and standby listed, it follows a promotion",
          "[.standby]") {
  auto primary_port = env("LIFELINE_PG_PORT");
  auto standby_port = env("LIFELINE_PG_STANDBY_PORT");
  auto cfg = postgres_from_env(2);
  cfg.dsn = "host=127.0.0.1,127.0.0.1 port=" + primary_port + "," + standby_port
            + " user=lifeline dbname=lifeline target_session_attrs=read-write";
  postgres_backend pg{cfg};
  auto c = unique_collection("standby");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {document{"a", {1, 2}, "before", "{}", 1}}));

  // Replication is asynchronous: a write the standby has not replayed dies
  // with the primary. Wait until it has, as a deployment with synchronous
  // commit would have before acknowledging.
  std::string lsn;
  {
    auto p = connect(cfg, primary_port);
    pqxx::nontransaction tx{*p};
    lsn = tx.exec1("SELECT pg_current_wal_lsn()::text")[0].as<std::string>();
  }
  auto s = connect(cfg, standby_port);
  CHECK(eventually([&] {
    pqxx::nontransaction tx{*s};
    return tx.exec1("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '" + lsn + "') >= 0")[0]
      .as<bool>();
  }));
  s.reset();

  REQUIRE(pg_control("kill") == 0);
  REQUIRE(pg_control("promote") == 0);
  // The pool's connections to the old primary fail once; the next ones go
  // down the host list to the promoted standby.
  CHECK(eventually([&] { return bool(pg.upsert(c, {document{"b", {3, 4}, "after", "{}", 2}})); }));
  auto a = pg.get(c, "a");
  REQUIRE(a);
  CHECK(a->content == "before");
  // The asynchronous reader (its own connections) follows too: its
  // connection to the old primary may be the one that fails first, so it
  // gets a few tries, each through get_async.
  CHECK(eventually([&] {
    std::promise<expected<document>> got;
    pg.get_async(c, "b", [&](expected<document> r) { got.set_value(std::move(r)); });
    auto b = got.get_future().get();
    return b && b->content == "after";
  }));
  CHECK(pg.probe());
}
