// The PostgreSQL backend against the real server the test command started:
// what is PostgreSQL's own (a killed server, a wrong password, transactions
// on one pooled connection, migrations, the marker across a restart). What
// every backend does is the backend contract's (contract/*_cases.cpp), run
// against PostgreSQL by contract_postgres_test.cpp.
#include "backends/postgres_backend.hpp"
#include "backends/postgres_codec.hpp"
#include "backends/postgres_schema.hpp"
#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <pqxx/pqxx>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;

TEST_CASE("postgres backend: a killed server is reported unavailable, then recovered",
          "[postgres][fault]") {
  postgres_backend pg{postgres_from_env(1)};
  auto c = unique_collection("fault");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.probe());
  REQUIRE(pg_control("kill") == 0);
  auto down = pg.probe();
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == errc::backend_unavailable);
  auto get = pg.get(c, "a");
  REQUIRE_FALSE(get);
  CHECK(get.error().kind == errc::backend_unavailable);
  REQUIRE(pg_control("start") == 0);
  // The broken connection was dropped; the next call connects afresh.
  CHECK(pg.probe());
  CHECK(pg.collection_stats(c));
}

TEST_CASE("postgres backend: a wrong password is unavailable with a clear reason",
          "[postgres]") {
  auto cfg = postgres_from_env();
  cfg.password = "not-the-password";
  postgres_backend pg{cfg};
  auto r = pg.probe();
  REQUIRE_FALSE(r);
  CHECK(r.error().kind == errc::backend_unavailable);
  CHECK(r.error().message.find("password authentication failed") != std::string::npos);
}

TEST_CASE("postgres backend: a batch is one transaction, the last duplicate wins",
          "[postgres]") {
  postgres_backend pg{postgres_from_env(1)};
  auto c = unique_collection("batch");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  std::vector<document> batch;
  for (int i = 0; i < 500; ++i) batch.push_back({"d" + std::to_string(i), {float(i), 0}, "", "", 0});
  batch.push_back({"d7", {7, 7}, "second", "", 0});
  REQUIRE(pg.upsert(c, batch));
  CHECK(pg.collection_stats(c)->count == 500);
  CHECK(pg.get(c, "d7")->content == "second");
  SECTION("a batch the server refuses leaves nothing behind, and the connection works") {
    std::vector<document> doomed{{"new1", {1, 1}, "", "", 0},
                                 {"new2", {1, 1}, "", "", std::numeric_limits<uint64_t>::max()}};
    auto r = pg.upsert(c, doomed); // version out of range for bigint
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == errc::invalid_argument);
    // Same (single) connection: no aborted transaction was left behind.
    CHECK(pg.get(c, "new1").error().kind == errc::not_found);
    CHECK(pg.collection_stats(c)->count == 500);
  }
}

TEST_CASE("postgres backend: migrations are recorded once, even when servers start together",
          "[postgres]") {
  scratch_database db;
  std::vector<std::thread> servers;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i)
    servers.emplace_back([&, i] {
      postgres_backend pg{db.config()};
      ok[i] = pg.probe() ? 1 : 0;
    });
  for (auto& t : servers) t.join();
  CHECK(ok == std::vector<int>{1, 1, 1, 1});
  auto c = db.connect();
  pqxx::read_transaction tx{*c};
  auto r = tx.exec("SELECT count(*), max(version) FROM lifeline_schema_migrations");
  CHECK(r[0][0].as<int>() == r[0][1].as<int>()); // one row per version
  CHECK(r[0][1].as<int>() == pg::latest_schema_version());
}

TEST_CASE("postgres backend: a database at migration 1 is upgraded in place", "[postgres]") {
  scratch_database db;
  {
    // The schema exactly as migration 1 left it (released migrations never
    // change), with a collection and a document written by that version.
    auto c = db.connect();
    pqxx::work tx{*c};
    tx.exec(R"sql(
CREATE TABLE lifeline_schema_migrations (
  version integer PRIMARY KEY, description text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO lifeline_schema_migrations (version, description)
  VALUES (1, 'collections and documents');
CREATE TABLE lifeline_collections (
  name text PRIMARY KEY,
  dimension integer NOT NULL CHECK (dimension > 0),
  metric text NOT NULL CHECK (metric IN ('l2', 'ip', 'cosine')),
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE lifeline_documents (
  collection text NOT NULL REFERENCES lifeline_collections (name) ON DELETE CASCADE,
  id text NOT NULL,
  embedding bytea NOT NULL,
  content text NOT NULL DEFAULT '',
  metadata json,
  version bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, id));
INSERT INTO lifeline_collections (name, dimension, metric) VALUES ('old', 2, 'l2');
)sql");
    tx.exec_params("INSERT INTO lifeline_documents (collection, id, embedding, content, metadata,"
                   " version) VALUES ('old', 'kept', $1::bytea, 'from v1', '{\"v\":1}', 4)",
                   pg::vector_to_bytea_hex({1.5f, -2}));
    tx.commit();
  }
  postgres_backend pg{db.config()};
  document kept{"kept", {1.5f, -2}, "from v1", R"({"v":1})", 4};
  auto got = pg.get("old", "kept");
  REQUIRE(got);
  CHECK(*got == kept);
  CHECK(pg.collection_stats("old")->count == 1);
  auto page = pg.scan({"old", "", 10, true});
  REQUIRE(page);
  CHECK(*page == std::vector<document>{kept});
  CHECK(*pg.replica_marker() == "");
  REQUIRE(pg.set_replica_marker("upgraded"));
  CHECK(*pg.replica_marker() == "upgraded");
  CHECK(*pg.remove("old", "kept", 5));
  CHECK(pg.collection_stats("old")->count == 0);
  CHECK(pg.upsert("old", {{"kept", {0, 0}, "", "", 4}})); // older than the tombstone
  CHECK(pg.get("old", "kept").error().kind == errc::not_found);
  auto c = db.connect();
  pqxx::read_transaction tx{*c};
  auto r = tx.exec("SELECT count(*), min(version), max(version) FROM lifeline_schema_migrations");
  CHECK(r[0][0].as<int>() == pg::latest_schema_version());
  CHECK(r[0][1].as<int>() == 1);
  CHECK(r[0][2].as<int>() == pg::latest_schema_version());
}

TEST_CASE("postgres backend: the replica marker is kept with the data, across a restart",
          "[postgres]") {
  scratch_database db;
  {
    postgres_backend pg{db.config()};
    REQUIRE(pg.set_replica_marker("replica-2"));
    // A text column: no NUL byte (the other kinds store any bytes).
    CHECK(pg.set_replica_marker(std::string("a\0b", 3)).error().kind
          == errc::invalid_argument);
  }
  postgres_backend restarted{db.config()};
  CHECK(*restarted.replica_marker() == "replica-2");
  REQUIRE(restarted.set_replica_marker(""));
  CHECK(*restarted.replica_marker() == "");
}
