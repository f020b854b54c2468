// The PostgreSQL backend against the real server the test command started.
#include "backends/memory_backend.hpp"
#include "backends/postgres_backend.hpp"
#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <pqxx/pqxx>
#include <thread>
#include <random>

using namespace lifeline;
using namespace lifeline::testing;

TEST_CASE("postgres backend: what goes in comes out", "[postgres]") {
  postgres_backend pg{postgres_from_env()};
  auto c = unique_collection("crud");
  REQUIRE(pg.create_collection({c, 3, metric::l2}));
  CHECK(pg.create_collection({c, 3, metric::l2}));
  CHECK(pg.create_collection({c, 4, metric::l2}).error().kind == error_kind::conflict);
  document a{"a", {1.5f, -2.25f, 3.1f}, "alpha", R"({"tag": "x"})", 7};
  REQUIRE(pg.upsert(c, {a, {"b", {0, 0, 0}, "", "", 0}}));
  auto got = pg.get(c, "a");
  REQUIRE(got);
  CHECK(*got == a);
  CHECK(pg.get(c, "b")->metadata.empty());
  CHECK(pg.collection_stats(c)->count == 2);
  auto listed = pg.list_collections();
  REQUIRE(listed);
  CHECK(std::find(listed->begin(), listed->end(), collection_spec{c, 3, metric::l2})
        != listed->end());
  REQUIRE(pg.remove(c, "a"));
  CHECK(pg.get(c, "a").error().kind == error_kind::not_found);
  CHECK(pg.remove(c, "a").error().kind == error_kind::not_found);
  CHECK(pg.get("no_such_collection", "a").error().kind == error_kind::not_found);
  REQUIRE(pg.drop_collection(c));
  CHECK(pg.collection_stats(c).error().kind == error_kind::not_found);
}

TEST_CASE("postgres backend: hostile ids and bad vectors", "[postgres]") {
  postgres_backend pg{postgres_from_env()};
  auto c = unique_collection("hostile");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  for (const std::string& id : std::vector<std::string>{"'; DROP TABLE lifeline_documents; --", "back\\slash", "quote\"d",
                         "ünïcødé ✓", std::string(1000, 'x')}) {
    REQUIRE(pg.upsert(c, {{id, {1, 2}, id, "", 0}}));
    auto got = pg.get(c, id);
    REQUIRE(got);
    CHECK(got->id == id);
    CHECK(got->content == id);
  }
  auto nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(pg.upsert(c, {{"ok", {1, 2}, "", "", 0}, {"bad", {nan, 2}, "", "", 0}}).error().kind
        == error_kind::invalid_argument);
  CHECK(pg.get(c, "ok").error().kind == error_kind::not_found); // the batch was refused whole
  CHECK(pg.upsert(c, {{std::string("a\0b", 3), {1, 2}, "", "", 0}}).error().kind
        == error_kind::invalid_argument);
  CHECK(pg.upsert(c, {{"short", {1}, "", "", 0}}).error().kind == error_kind::invalid_argument);
  CHECK(pg.collection_stats(c)->count == 5);
}

TEST_CASE("postgres backend: exact search equals brute force", "[postgres]") {
  postgres_backend pg{postgres_from_env()};
  std::mt19937 rng{11};
  std::normal_distribution<float> gauss;
  for (auto m : {metric::l2, metric::ip, metric::cosine}) {
    auto c = unique_collection("search");
    memory_backend reference;
    REQUIRE(pg.create_collection({c, 16, m}));
    REQUIRE(reference.create_collection({c, 16, m}));
    std::vector<document> docs;
    for (int i = 0; i < 200; ++i) {
      std::vector<float> v(16);
      for (auto& x : v) x = gauss(rng);
      docs.push_back({"d" + std::to_string(i), v, "", "", 0});
    }
    REQUIRE(pg.upsert(c, docs));
    REQUIRE(reference.upsert(c, docs));
    for (int trial = 0; trial < 5; ++trial) {
      std::vector<float> q(16);
      for (auto& x : q) x = gauss(rng);
      auto got = pg.search({c, q, 10, 0});
      auto want = reference.search({c, q, 10, 0});
      REQUIRE(got);
      REQUIRE(want);
      REQUIRE(got->size() == want->size());
      for (size_t i = 0; i < got->size(); ++i) {
        CHECK((*got)[i].id == (*want)[i].id);
        CHECK((*got)[i].distance == Approx((*want)[i].distance).margin(1e-3));
      }
    }
  }
}

TEST_CASE("postgres backend: a killed server is reported unavailable, then recovered",
          "[postgres][fault]") {
  postgres_backend pg{postgres_from_env(1)};
  auto c = unique_collection("fault");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.probe());
  REQUIRE(pg_control("kill") == 0);
  auto down = pg.probe();
  REQUIRE_FALSE(down);
  CHECK(down.error().kind == error_kind::unavailable);
  auto get = pg.get(c, "a");
  REQUIRE_FALSE(get);
  CHECK(get.error().kind == error_kind::unavailable);
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
  CHECK(r.error().kind == error_kind::unavailable);
  CHECK(r.error().message.find("password authentication failed") != std::string::npos);
}

TEST_CASE("postgres backend: metadata and content come back byte for byte", "[postgres]") {
  postgres_backend pg{postgres_from_env()};
  auto c = unique_collection("bytes");
  REQUIRE(pg.create_collection({c, 1, metric::l2}));
  std::vector<std::string> metadata{
    R"({"b":1,"a":2})",                        // key order kept
    R"({ "spaced" :  [ 1 ,2 ] })",             // whitespace kept
    R"({"q":"it's \"quoted\" \\ back\\slash"})",
    R"({"u":"\u00e9 é ✓ \ud834\udd1e"})",
    R"({"deep":{"deeper":{"deepest":[{"x":null}]}}})",
    "{\"long\":\"" + std::string(60000, 'z') + "\"}",
  };
  for (size_t i = 0; i < metadata.size(); ++i) {
    document d{"m" + std::to_string(i), {float(i)}, "line1\nline2\t\"x\" é", metadata[i], 0};
    REQUIRE(pg.upsert(c, {d}));
    auto got = pg.get(c, d.id);
    REQUIRE(got);
    CHECK(got->metadata == metadata[i]);
    CHECK(got->content == d.content);
  }
  CHECK(pg.upsert(c, {{"bad", {1}, "", "{not json}", 0}}).error().kind
        == error_kind::invalid_argument);
  CHECK(pg.upsert(c, {{"bad", {1}, "\xc3", "", 0}}).error().kind == error_kind::invalid_argument);
}

TEST_CASE("postgres backend: a batch is one transaction; the last duplicate wins",
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
    CHECK(r.error().kind == error_kind::invalid_argument);
    // Same (single) connection: no aborted transaction was left behind.
    CHECK(pg.get(c, "new1").error().kind == error_kind::not_found);
    CHECK(pg.collection_stats(c)->count == 500);
  }
}

TEST_CASE("postgres backend: migrations are recorded once, even when servers start together",
          "[postgres]") {
  auto cfg = postgres_from_env();
  auto db = unique_collection("migrate");
  {
    pqxx::connection admin{cfg.dsn + " password='" + cfg.password + "'"};
    pqxx::nontransaction tx{admin};
    tx.exec("CREATE DATABASE " + db);
  }
  auto fresh = cfg;
  fresh.dsn += " dbname=" + db; // a later keyword wins in a libpq connection string
  std::vector<std::thread> servers;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i)
    servers.emplace_back([&, i] {
      postgres_backend pg{fresh};
      ok[i] = pg.probe() ? 1 : 0;
    });
  for (auto& t : servers) t.join();
  CHECK(ok == std::vector<int>{1, 1, 1, 1});
  {
    pqxx::connection c{fresh.dsn + " password='" + cfg.password + "'"};
    pqxx::read_transaction tx{c};
    auto r = tx.exec("SELECT count(*), max(version) FROM lifeline_schema_migrations");
    CHECK(r[0][0].as<int>() == r[0][1].as<int>()); // one row per version
    CHECK(r[0][1].as<int>() >= 1);
  }
  pqxx::connection admin{cfg.dsn + " password='" + cfg.password + "'"};
  pqxx::nontransaction tx{admin};
  tx.exec("DROP DATABASE " + db);
}
