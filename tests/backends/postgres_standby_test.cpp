// A postgres backend whose conninfo lists a primary and its hot standby
// (issue 15): libpq tries the hosts in order and, with
// target_session_attrs=read-write, keeps only the primary. Run by
// tests/scripts/postgres_standby_tests.sh, which starts a real primary and a
// streaming standby (scripts/pg.sh) and runs the "[.standby]" cases; hidden
// from the other runs, which have no standby.
#include "backends/postgres_backend.hpp"
#include "support/eventually.hpp"
#include "support/required_env.hpp"
#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <cstdlib>
#include <future>
#include <string>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

std::string env(const char* name) { return required_env(name, "tests/scripts/postgres_standby_tests.sh"); }

/// A plain connection to one of the two servers.
std::unique_ptr<pqxx::connection> connect(const postgres_config& cfg, const std::string& port) {
  return std::make_unique<pqxx::connection>("host=127.0.0.1 port=" + port
                                            + " user=lifeline dbname=lifeline password='"
                                            + cfg.password + "'");
}

} // namespace

TEST_CASE("postgres backend: with its primary and standby listed, it follows a promotion",
          "[.standby][follows]") {
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
  // The promoted standby is on a new timeline: writes acknowledged on the
  // old one may be missing there, so reads are refused until the data is
  // verified (the coordinator's part: it stores a new replica marker).
  CHECK_THAT(pg.lost_writes(), Catch::Contains("timeline"));
  auto refused = pg.get(c, "a");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().kind == errc::backend_unavailable);
  auto marker = pg.replica_marker();
  REQUIRE(marker);
  CHECK(marker->empty());
  REQUIRE(pg.set_replica_marker("verified"));
  CHECK(pg.lost_writes().empty());
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

TEST_CASE("postgres backend: a standby that has not replayed the last acknowledged write refuses "
          "reads, and serves once it has",
          "[.standby][backend-paused]") {
  auto primary_port = env("LIFELINE_PG_PORT");
  auto standby_port = env("LIFELINE_PG_STANDBY_PORT");
  auto cfg = postgres_from_env(2);
  cfg.read_replicas = {"host=127.0.0.1 port=" + standby_port + " user=lifeline dbname=lifeline"};
  postgres_backend pg{cfg};
  auto c = unique_collection("lagging");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {document{"a", {1, 2}, "v1", "{}", 1}}));
  REQUIRE(pg_control("standby-pause") == 0);
  REQUIRE(pg.upsert(c, {document{"a", {1, 2}, "v2", "{}", 2}}));
  REQUIRE(pg_control("kill") == 0);

  // The standby holds v1 only: refused, never answered with v1.
  auto r = pg.get(c, "a");
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == errc::backend_unavailable);
  CHECK_THAT(r.error().message, Catch::Contains("standby 127.0.0.1:" + standby_port + " is "));
  CHECK_THAT(r.error().message, Catch::Contains("bytes behind the last acknowledged write"));
  CHECK_FALSE(pg.probe());
  database_status db;
  REQUIRE(pg.database(db));
  REQUIRE(db.standbys.size() == 1);
  CHECK(db.standbys[0].refused >= 1);
  CHECK(db.standbys[0].reads == 0);
  CHECK_FALSE(db.primary_reachable);

  REQUIRE(pg_control("standby-resume") == 0);
  CHECK(eventually([&] {
    auto again = pg.get(c, "a");
    return again && again->content == "v2";
  }));
  CHECK(pg.probe()); // up for reads on the standby
  // Writes never go to the standby.
  auto w = pg.upsert(c, {document{"b", {1, 2}, "v1", "{}", 3}});
  REQUIRE_FALSE(w);
  CHECK(w.error().kind == errc::backend_unavailable);
  REQUIRE(pg.database(db));
  CHECK(db.standbys[0].reads >= 1);
  CHECK(db.standbys[0].serving);
}

TEST_CASE("postgres backend: replica_reads prefer sends reads to a standby that holds every "
          "acknowledged write, and to the primary otherwise",
          "[.standby][prefer]") {
  auto standby_port = env("LIFELINE_PG_STANDBY_PORT");
  auto cfg = postgres_from_env(2);
  cfg.read_replicas = {"host=127.0.0.1 port=" + standby_port + " user=lifeline dbname=lifeline"};
  cfg.prefer_replicas = true;
  postgres_backend pg{cfg};
  REQUIRE(pg.probe()); // the primary's position is known from here on
  auto c = unique_collection("prefer");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {document{"a", {1, 2}, "v1", "{}", 1}}));
  auto standby_reads = [&] {
    database_status db;
    REQUIRE(pg.database(db));
    REQUIRE(db.standbys.size() == 1);
    return db.standbys[0].reads;
  };
  // Served by the standby once it has replayed the write (never before).
  CHECK(eventually([&] {
    auto before = standby_reads();
    auto r = pg.get(c, "a");
    REQUIRE(r);
    CHECK(r->content == "v1");
    return standby_reads() > before;
  }));

  // Replay paused: the standby lacks the next write, so the primary answers.
  REQUIRE(pg_control("standby-pause") == 0);
  REQUIRE(pg.upsert(c, {document{"a", {1, 2}, "v2", "{}", 2}}));
  auto before = standby_reads();
  for (int i = 0; i < 5; ++i) {
    auto r = pg.get(c, "a");
    REQUIRE(r);
    CHECK(r->content == "v2");
  }
  CHECK(standby_reads() == before);
  database_status db;
  REQUIRE(pg.database(db));
  CHECK(db.standbys[0].refused >= 5);
  CHECK(db.primary_reachable);
  CHECK(db.timeline.size() == 8);
  REQUIRE(pg_control("standby-resume") == 0);
}
