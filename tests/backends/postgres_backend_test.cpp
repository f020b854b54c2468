// The PostgreSQL backend against the real server the test command started.
#include "backends/memory_backend.hpp"
#include "backends/postgres_backend.hpp"
#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <limits>
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
