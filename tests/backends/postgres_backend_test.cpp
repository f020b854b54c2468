// The PostgreSQL backend against the real server the test command started.
#include "backends/memory_backend.hpp"
#include "backends/postgres_backend.hpp"
#include "backends/postgres_codec.hpp"
#include "backends/postgres_schema.hpp"
#include "backends/validation.hpp"
#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <pqxx/pqxx>
#include <thread>
#include <random>

using namespace lifeline;
using namespace lifeline::testing;

TEST_CASE("postgres backend: create answers created, then exists, then conflict", "[postgres]") {
  postgres_backend pg{postgres_from_env(4)};
  auto c = unique_collection("create");
  auto first = pg.create_collection({c, 3, metric::l2});
  REQUIRE(first);
  CHECK(*first); // created
  auto again = pg.create_collection({c, 3, metric::l2});
  REQUIRE(again);
  CHECK_FALSE(*again); // an identical one existed
  CHECK(pg.create_collection({c, 3, metric::cosine}).error().kind == error_kind::conflict);
  SECTION("of concurrent identical creates exactly one created it") {
    // Four connections race on INSERT ... ON CONFLICT: the row tells.
    auto race = unique_collection("race");
    std::vector<std::thread> threads;
    std::atomic<int> created{0}, failed{0};
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        auto r = pg.create_collection({race, 2, metric::l2});
        if (!r) ++failed;
        else if (*r) ++created;
      });
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(created == 1);
  }
}

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
  auto removed = pg.remove(c, "a", 8);
  REQUIRE(removed);
  CHECK(*removed); // a live document was deleted
  CHECK(pg.get(c, "a").error().kind == error_kind::not_found);
  removed = pg.remove(c, "a", 9);
  REQUIRE(removed);
  CHECK_FALSE(*removed); // nothing live left to delete: not an error
  CHECK(pg.collection_stats(c)->count == 1);
  CHECK(pg.remove("no_such_collection", "a", 1).error().kind == error_kind::not_found);
  CHECK(pg.remove(c, "", 1).error().kind == error_kind::invalid_argument);
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
    CHECK(r.error().kind == error_kind::invalid_argument);
    // Same (single) connection: no aborted transaction was left behind.
    CHECK(pg.get(c, "new1").error().kind == error_kind::not_found);
    CHECK(pg.collection_stats(c)->count == 500);
  }
}

namespace {


std::vector<std::string> ids_of(const std::vector<document>& docs) {
  std::vector<std::string> out;
  for (auto& d : docs) out.push_back(d.id);
  return out;
}

} // namespace

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
  CHECK(pg.get("old", "kept").error().kind == error_kind::not_found);
  auto c = db.connect();
  pqxx::read_transaction tx{*c};
  auto r = tx.exec("SELECT count(*), min(version), max(version) FROM lifeline_schema_migrations");
  CHECK(r[0][0].as<int>() == pg::latest_schema_version());
  CHECK(r[0][1].as<int>() == 1);
  CHECK(r[0][2].as<int>() == pg::latest_schema_version());
}

TEST_CASE("postgres backend: the newest version wins, whatever the order of writes",
          "[postgres][versions]") {
  postgres_backend pg{postgres_from_env()};
  auto c = unique_collection("versions");
  REQUIRE(pg.create_collection({c, 1, metric::l2}));
  REQUIRE(pg.upsert(c, {{"a", {1}, "v5", "", 5}}));
  REQUIRE(pg.upsert(c, {{"a", {2}, "v3", "", 3}})); // older: ignored, still a success
  CHECK(pg.get(c, "a")->content == "v5");
  REQUIRE(pg.upsert(c, {{"a", {3}, "v5 again", "", 5}})); // equal: applied (a replay)
  CHECK(*pg.get(c, "a") == document{"a", {3}, "v5 again", "", 5});
  REQUIRE(pg.upsert(c, {{"a", {4}, "v6", R"({"n":6})", 6}}));
  CHECK(*pg.get(c, "a") == document{"a", {4}, "v6", R"({"n":6})", 6});
  // In one batch, older and newer documents are sorted out one by one.
  REQUIRE(pg.upsert(c, {{"a", {5}, "v4", "", 4}, {"b", {1}, "b2", "", 2}}));
  CHECK(pg.get(c, "a")->content == "v6");
  CHECK(pg.get(c, "b")->content == "b2");
  // Duplicates in a batch: the newest wins, the last of equals.
  REQUIRE(pg.upsert(c, {{"d", {1}, "d9", "", 9}, {"d", {1}, "d8", "", 8},
                        {"d", {1}, "d9 last", "", 9}, {"d", {1}, "d7", "", 7}}));
  CHECK(*pg.get(c, "d") == document{"d", {1}, "d9 last", "", 9});
  CHECK(pg.collection_stats(c)->count == 3);
  CHECK(pg.upsert(c, {{"e", {1}, "", "", uint64_t(INT64_MAX) + 1}}).error().kind
        == error_kind::invalid_argument);
}

TEST_CASE("postgres backend: a tombstone beats older writes and loses to newer ones",
          "[postgres][versions]") {
  postgres_backend pg{postgres_from_env()};
  auto c = unique_collection("tombstone");
  REQUIRE(pg.create_collection({c, 1, metric::l2}));
  REQUIRE(pg.upsert(c, {{"a", {1}, "v5", "", 5}}));
  CHECK_FALSE(*pg.remove(c, "a", 4)); // older than the document: nothing happens
  CHECK(pg.get(c, "a")->content == "v5");
  CHECK(*pg.remove(c, "a", 7));
  CHECK(pg.get(c, "a").error().kind == error_kind::not_found);
  REQUIRE(pg.upsert(c, {{"a", {2}, "v6", "", 6}})); // older than the tombstone
  CHECK(pg.get(c, "a").error().kind == error_kind::not_found);
  CHECK_FALSE(*pg.remove(c, "a", 6)); // an older tombstone does not replace it...
  REQUIRE(pg.upsert(c, {{"a", {2}, "v6", "", 6}}));
  CHECK(pg.get(c, "a").error().kind == error_kind::not_found); // ...which still holds at 7
  REQUIRE(pg.upsert(c, {{"a", {3}, "v8", "", 8}})); // newer: the document is back
  CHECK(*pg.get(c, "a") == document{"a", {3}, "v8", "", 8});
  CHECK(pg.collection_stats(c)->count == 1);
  // A tombstone at the same version as the document wins (as an equal write does).
  CHECK(*pg.remove(c, "a", 8));
  CHECK(pg.get(c, "a").error().kind == error_kind::not_found);

  SECTION("a missing id is not an error, and its tombstone is kept") {
    auto r = pg.remove(c, "ghost", 10);
    REQUIRE(r);
    CHECK_FALSE(*r);
    REQUIRE(pg.upsert(c, {{"ghost", {1}, "late", "", 9}}));
    CHECK(pg.get(c, "ghost").error().kind == error_kind::not_found);
    REQUIRE(pg.upsert(c, {{"ghost", {1}, "newer", "", 10}}));
    CHECK(pg.get(c, "ghost")->content == "newer");
  }
  SECTION("concurrent removes: one of them deleted the document") {
    REQUIRE(pg.upsert(c, {{"x", {1}, "", "", 1}}));
    postgres_backend many{postgres_from_env(8)};
    std::atomic<int> deleted{0}, failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&, i] {
        for (auto& id : {std::string{"x"}, "fresh" + std::to_string(i % 2)}) {
          auto r = many.remove(c, id, 2 + i);
          if (!r) ++failed;
          else if (*r) ++deleted;
        }
      });
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(deleted == 1);
    // Whatever the order, the newest tombstone is the one kept.
    REQUIRE(pg.upsert(c, {{"x", {1}, "", "", 8}, {"fresh0", {1}, "", "", 7},
                          {"fresh1", {1}, "", "", 8}}));
    CHECK(pg.get(c, "x").error().kind == error_kind::not_found);     // tombstone at 9
    CHECK(pg.get(c, "fresh0").error().kind == error_kind::not_found); // tombstone at 8
    CHECK(pg.get(c, "fresh1").error().kind == error_kind::not_found); // tombstone at 9
  }
}

TEST_CASE("postgres backend: reads ignore tombstones", "[postgres][versions]") {
  postgres_backend pg{postgres_from_env()};
  auto c = unique_collection("ignored");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {{"near", {0, 0}, "n", "", 1}, {"mid", {1, 1}, "m", "", 1},
                        {"far", {5, 5}, "f", "", 1}}));
  REQUIRE(*pg.remove(c, "near", 2));
  CHECK(pg.get(c, "near").error().kind == error_kind::not_found);
  CHECK(pg.collection_stats(c)->count == 2);
  auto hits = pg.search({c, {0, 0}, 10, 0});
  REQUIRE(hits);
  REQUIRE(hits->size() == 2);
  CHECK((*hits)[0].id == "mid");
  CHECK((*hits)[0].content == "m");
  CHECK((*hits)[1].id == "far");
  CHECK(ids_of(*pg.scan({c, "", 10, true})) == std::vector<std::string>{"far", "mid"});
  CHECK(ids_of(*pg.scan({c, "", 10, false})) == std::vector<std::string>{"far", "mid"});
}

TEST_CASE("postgres backend: scan pages through live documents in byte order",
          "[postgres][scan]") {
  // On a database whose default collation is not byte order (ICU en-US sorts
  // "a" < "B"), so that the order is the backend's, not the database's.
  std::unique_ptr<scratch_database> icu;
  try {
    icu = std::make_unique<scratch_database>(
      "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'");
  } catch (const std::exception& e) {
    WARN("no ICU collation (" << e.what() << "); scanning on the default database");
  }
  postgres_backend pg{icu ? icu->config() : postgres_from_env()};
  auto c = unique_collection("scan");
  REQUIRE(pg.create_collection({c, 2, metric::cosine}));
  std::vector<document> docs{{"b", {0, 2}, "bee", "", 3}, {"é", {1, 0}, "e acute", R"({"x":1})", 4},
                             {"B", {3, 4}, "big bee", "", 1}, {"ab", {0, 1}, "", "", 2},
                             {"a", {1, 0}, "ay", R"({"y":[1]})", 5}, {"aa", {1, 0}, "", "", 1}};
  REQUIRE(pg.upsert(c, docs));
  REQUIRE(*pg.remove(c, "aa", 6));
  const std::vector<std::string> order{"B", "a", "ab", "b", "é"}; // bytes: 42 61 6162 62 c3a9

  SECTION("with payload, as get returns it") {
    std::vector<document> all;
    std::vector<size_t> sizes;
    std::string after;
    for (;;) {
      auto page = pg.scan({c, after, 2, true});
      REQUIRE(page);
      sizes.push_back(page->size());
      if (page->empty()) break;
      all.insert(all.end(), page->begin(), page->end());
      after = page->back().id;
    }
    CHECK(sizes == std::vector<size_t>{2, 2, 1, 0});
    CHECK(ids_of(all) == order);
    for (auto& d : all) CHECK(d == *pg.get(c, d.id)); // stored vector (normalised)
  }
  SECTION("without payload: ids and versions only") {
    auto page = pg.scan({c, "", 10, false});
    REQUIRE(page);
    CHECK(ids_of(*page) == order);
    std::vector<uint64_t> versions;
    for (auto& d : *page) {
      versions.push_back(d.version);
      CHECK(d.vector.empty());
      CHECK(d.content.empty());
      CHECK(d.metadata.empty());
    }
    CHECK(versions == std::vector<uint64_t>{1, 5, 2, 3, 4});
  }
  SECTION("bounds between and past the ids") {
    CHECK(ids_of(*pg.scan({c, "a", 10, false})) == std::vector<std::string>{"ab", "b", "é"});
    CHECK(ids_of(*pg.scan({c, "aa", 1, false})) == std::vector<std::string>{"ab"});
    CHECK(ids_of(*pg.scan({c, "C", 10, false})) == std::vector<std::string>{"a", "ab", "b", "é"});
    CHECK(pg.scan({c, "é", 10, true})->empty());
    CHECK(ids_of(*pg.scan({c, "z", 10, false})) == std::vector<std::string>{"é"}); // c3 > 7a
  }
  SECTION("bad requests") {
    CHECK(pg.scan({"no_such_collection", "", 10, true}).error().kind == error_kind::not_found);
    CHECK(pg.scan({c, "", 0, true}).error().kind == error_kind::invalid_argument);
    CHECK(pg.scan({c, "", max_scan_limit + 1, true}).error().kind
          == error_kind::invalid_argument);
    CHECK(pg.scan({c, "", max_scan_limit, true})->size() == order.size());
  }
}

TEST_CASE("postgres backend: purging forgets only tombstones up to a version",
          "[postgres][versions]") {
  scratch_database db; // purging spans every collection: keep other tests out
  postgres_backend pg{db.config()};
  REQUIRE(pg.create_collection({"one", 1, metric::l2}));
  REQUIRE(pg.create_collection({"two", 1, metric::l2}));
  REQUIRE(pg.upsert("one", {{"a", {1}, "", "", 1}, {"b", {1}, "", "", 1},
                            {"live", {1}, "", "", 3}}));
  REQUIRE(pg.upsert("two", {{"a", {1}, "", "", 1}}));
  REQUIRE(*pg.remove("one", "a", 5));
  REQUIRE(*pg.remove("one", "b", 10));
  REQUIRE(*pg.remove("two", "a", 7));
  REQUIRE_FALSE(*pg.remove("two", "never", 2));
  auto purged = pg.purge_tombstones(7);
  REQUIRE(purged);
  CHECK(*purged == 3); // one/a at 5, two/a at 7, two/never at 2
  CHECK(*pg.purge_tombstones(7) == 0);
  // Forgotten: an older write applies again. Kept: it still wins.
  REQUIRE(pg.upsert("one", {{"a", {1}, "back", "", 3}, {"b", {1}, "back", "", 9}}));
  CHECK(pg.get("one", "a")->content == "back");
  CHECK(pg.get("one", "b").error().kind == error_kind::not_found);
  CHECK(pg.get("one", "live")); // live documents are never purged, whatever their version
  CHECK(*pg.purge_tombstones(std::numeric_limits<uint64_t>::max()) == 1);
  CHECK(pg.collection_stats("one")->count == 2);
}

TEST_CASE("postgres backend: the replica marker is kept with the data", "[postgres]") {
  scratch_database db;
  {
    postgres_backend pg{db.config()};
    auto empty = pg.replica_marker();
    REQUIRE(empty);
    CHECK(*empty == "");
    REQUIRE(pg.set_replica_marker("replica-1 ✓"));
    CHECK(*pg.replica_marker() == "replica-1 ✓");
    REQUIRE(pg.set_replica_marker("replica-2"));
    CHECK(pg.set_replica_marker(std::string("a\0b", 3)).error().kind
          == error_kind::invalid_argument);
  }
  postgres_backend restarted{db.config()};
  CHECK(*restarted.replica_marker() == "replica-2");
  REQUIRE(restarted.set_replica_marker(""));
  CHECK(*restarted.replica_marker() == "");
}

// GitHub issue 11 ("Values"): a poison vector is refused as invalid_argument,
// or stored and then served finite, by get and by search, in every metric.
TEST_CASE("postgres backend: poison vectors are refused or stored and served finite",
          "[postgres][values]") {
  postgres_backend pg{postgres_from_env()};
  const float inf = std::numeric_limits<float>::infinity();
  const float denormal = std::numeric_limits<float>::denorm_min();
  struct poison {
    const char* name;
    std::vector<float> vector;
    bool accepted;
  };
  std::vector<poison> poisons{
    {"[1e-40, 1e-40]", {1e-40f, 1e-40f}, true},
    {"[1e-45, 0]", {denormal, 0}, true},
    {"[1e-45, 1e15]", {denormal, 1e15f}, true},
    {"[1e15, 1e15]", {1e15f, 1e15f}, true},
    {"[-1e15, 1e15]", {-1e15f, 1e15f}, true},
    {"[0, 0]", {0, 0}, true},
    {"[3e38, 3e38]", {3e38f, 3e38f}, false},
    {"[1e16, 0]", {1e16f, 0}, false},
    {"[inf, 1]", {inf, 1}, false},
    {"[nan, 0]", {std::nanf(""), 0}, false},
  };
  auto finite = [](const std::vector<float>& v) {
    return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
  };
  auto norm = [](const std::vector<float>& v) {
    double n = 0;
    for (float x : v) n += double(x) * double(x);
    return std::sqrt(n);
  };
  for (auto m : {metric::l2, metric::ip, metric::cosine}) {
    for (auto& p : poisons) {
      INFO(to_string(m) << ": " << p.name);
      auto c = unique_collection("poison");
      REQUIRE(pg.create_collection({c, 2, m}));
      REQUIRE(pg.upsert(c, {{"ok", {1, 2}, "", "", 1}}));
      auto put = pg.upsert(c, {{"p", p.vector, "", "", 1}});
      if (!p.accepted) {
        REQUIRE_FALSE(put);
        CHECK(put.error().kind == error_kind::invalid_argument);
        auto q = pg.search({c, p.vector, 2, 0});
        REQUIRE_FALSE(q);
        CHECK(q.error().kind == error_kind::invalid_argument);
        CHECK(pg.get(c, "p").error().kind == error_kind::not_found);
        REQUIRE(pg.drop_collection(c));
        continue;
      }
      REQUIRE(put);
      auto got = pg.get(c, "p");
      REQUIRE(got);
      CHECK(finite(got->vector));
      if (m == metric::cosine && norm(p.vector) > 0)
        CHECK(norm(got->vector) == Approx(1.0).epsilon(1e-6));
      else
        CHECK(got->vector == p.vector);
      for (auto& q : {p.vector, std::vector<float>{0.5f, -1}}) {
        auto hits = pg.search({c, q, 10, 0});
        REQUIRE(hits);
        REQUIRE(hits->size() == 2);
        for (auto& h : *hits) CHECK(std::isfinite(h.distance));
      }
      REQUIRE(pg.drop_collection(c));
    }
  }
  SECTION("the largest dimension at the largest component: distances finite") {
    for (auto m : {metric::l2, metric::ip, metric::cosine}) {
      INFO(to_string(m));
      auto c = unique_collection("poison_max");
      REQUIRE(pg.create_collection({c, max_dimension, m}));
      REQUIRE(pg.upsert(c, {{"plus", std::vector<float>(max_dimension, max_component), "", "", 1},
                            {"minus", std::vector<float>(max_dimension, -max_component), "", "", 1}}));
      auto hits = pg.search({c, std::vector<float>(max_dimension, max_component), 2, 0});
      REQUIRE(hits);
      REQUIRE(hits->size() == 2);
      CHECK(hits->at(0).id == "plus");
      for (auto& h : *hits) CHECK(std::isfinite(h.distance));
      REQUIRE(pg.drop_collection(c));
    }
  }
}
