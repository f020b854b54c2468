#include "backends/memory_backend.hpp"
#include "backends/validation.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

using namespace lifeline;

namespace {

document doc(std::string id, std::vector<float> v, std::string content = {}) {
  return document{std::move(id), std::move(v), std::move(content), R"({"k":1})", 0};
}

} // namespace

TEST_CASE("memory backend: what goes in comes out", "[memory]") {
  memory_backend b;
  REQUIRE(b.create_collection({"c", 3, metric::l2}));
  REQUIRE(b.upsert("c", {doc("a", {1, 2, 3}, "alpha"), doc("b", {4, 5, 6})}));
  auto got = b.get("c", "a");
  REQUIRE(got);
  CHECK(*got == doc("a", {1, 2, 3}, "alpha"));
  auto stats = b.collection_stats("c");
  REQUIRE(stats);
  CHECK(stats->count == 2);
  CHECK(stats->spec == collection_spec{"c", 3, metric::l2});
  SECTION("upsert replaces") {
    REQUIRE(b.upsert("c", {doc("a", {7, 8, 9}, "new")}));
    CHECK(b.get("c", "a")->content == "new");
    CHECK(b.collection_stats("c")->count == 2);
  }
  SECTION("remove deletes; a second remove finds nothing live") {
    auto removed = b.remove("c", "a", 1);
    REQUIRE(removed);
    CHECK(*removed);
    CHECK(b.get("c", "a").error().kind == error_kind::not_found);
    CHECK(b.collection_stats("c")->count == 1);
    CHECK_FALSE(*b.remove("c", "a", 2));
    CHECK(b.remove("nope", "a", 3).error().kind == error_kind::not_found);
  }
  SECTION("drop removes the collection") {
    REQUIRE(b.drop_collection("c"));
    CHECK(b.get("c", "a").error().kind == error_kind::not_found);
    CHECK(b.list_collections()->empty());
  }
}

TEST_CASE("memory backend: collections", "[memory]") {
  memory_backend b;
  REQUIRE(b.create_collection({"c", 3, metric::l2}));
  CHECK(b.create_collection({"c", 3, metric::l2}));
  CHECK(b.create_collection({"c", 4, metric::l2}).error().kind == error_kind::conflict);
  CHECK(b.create_collection({"", 3, metric::l2}).error().kind == error_kind::invalid_argument);
  CHECK(b.create_collection({"x y", 3, metric::l2}).error().kind == error_kind::invalid_argument);
  CHECK(b.create_collection({"z", 0, metric::l2}).error().kind == error_kind::invalid_argument);
  CHECK(b.upsert("missing", {doc("a", {1, 2, 3})}).error().kind == error_kind::not_found);
  REQUIRE(b.list_collections()->size() == 1);
}

TEST_CASE("memory backend: create answers created, then exists, then conflict", "[memory]") {
  memory_backend b;
  auto first = b.create_collection({"c", 3, metric::l2});
  REQUIRE(first);
  CHECK(*first); // created
  auto again = b.create_collection({"c", 3, metric::l2});
  REQUIRE(again);
  CHECK_FALSE(*again); // an identical one existed
  CHECK(b.create_collection({"c", 3, metric::ip}).error().kind == error_kind::conflict);
  CHECK(b.list_collections()->size() == 1);
  SECTION("of concurrent identical creates exactly one created it") {
    constexpr int n = 8;
    std::vector<std::thread> threads;
    std::atomic<int> created{0}, failed{0};
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&] {
        auto r = b.create_collection({"race", 2, metric::l2});
        if (!r) ++failed;
        else if (*r) ++created;
      });
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(created == 1);
  }
}

TEST_CASE("memory backend: bad input is refused and loses nothing", "[memory]") {
  memory_backend b;
  REQUIRE(b.create_collection({"c", 2, metric::l2}));
  REQUIRE(b.upsert("c", {doc("keep", {1, 1})}));
  auto nan = std::numeric_limits<float>::quiet_NaN();
  auto inf = std::numeric_limits<float>::infinity();
  // A batch with one bad document is refused whole.
  CHECK(b.upsert("c", {doc("ok", {1, 2}), doc("bad", {nan, 1})}).error().kind
        == error_kind::invalid_argument);
  CHECK(b.upsert("c", {doc("inf", {inf, 1})}).error().kind == error_kind::invalid_argument);
  // Finite but so large that a distance would overflow to inf.
  CHECK(b.upsert("c", {doc("huge", {1e20f, 1})}).error().kind == error_kind::invalid_argument);
  CHECK(b.search({"c", {-1e20f, 1}, 1, 0}).error().kind == error_kind::invalid_argument);
  CHECK(b.upsert("c", {doc("short", {1})}).error().kind == error_kind::invalid_argument);
  CHECK(b.upsert("c", {doc("", {1, 2})}).error().kind == error_kind::invalid_argument);
  CHECK(b.upsert("c", {doc(std::string("a\0b", 3), {1, 2})}).error().kind
        == error_kind::invalid_argument);
  CHECK(b.upsert("c", {doc(std::string(2000, 'x'), {1, 2})}).error().kind
        == error_kind::invalid_argument);
  CHECK(b.upsert("c", {doc("bell\x07", {1, 2})}).error().kind == error_kind::invalid_argument);
  document bad_meta{"m", {1, 2}, "", "not json", 0};
  CHECK(b.upsert("c", {bad_meta}).error().kind == error_kind::invalid_argument);
  document bad_text{"t", {1, 2}, "\xff\xfe", "", 0};
  CHECK(b.upsert("c", {bad_text}).error().kind == error_kind::invalid_argument);
  CHECK(b.collection_stats("c")->count == 1);
  CHECK(b.get("c", "ok").error().kind == error_kind::not_found);
  CHECK(b.search({"c", {1, 1}, 0, 0}).error().kind == error_kind::invalid_argument);
  CHECK(b.search({"c", {1, 1}, max_k + 1, 0}).error().kind == error_kind::invalid_argument);
  CHECK(b.search({"c", {nan, 1}, 1, 0}).error().kind == error_kind::invalid_argument);
  // Unicode and quotes in ids are stored byte for byte.
  std::string odd = "é'\"\\ ✓";
  REQUIRE(b.upsert("c", {doc(odd, {0, 0})}));
  CHECK(b.get("c", odd)->id == odd);
}

TEST_CASE("memory backend: exact search matches brute force for every metric", "[memory]") {
  std::mt19937 rng{7};
  std::normal_distribution<float> gauss;
  for (auto m : {metric::l2, metric::ip, metric::cosine}) {
    memory_backend b;
    REQUIRE(b.create_collection({"c", 8, m}));
    std::vector<document> docs;
    for (int i = 0; i < 300; ++i) {
      std::vector<float> v(8);
      for (auto& x : v) x = gauss(rng);
      docs.push_back(doc("d" + std::to_string(i), v));
    }
    REQUIRE(b.upsert("c", docs));
    std::vector<float> q(8);
    for (auto& x : q) x = gauss(rng);
    auto hits = b.search({"c", q, 10, 0});
    REQUIRE(hits);
    REQUIRE(hits->size() == 10);
    // Brute force in the test, independently of the backend.
    auto nq = q;
    if (m == metric::cosine) normalize(nq);
    std::vector<std::pair<float, std::string>> expect;
    for (auto& d : docs) {
      auto v = d.vector;
      if (m == metric::cosine) normalize(v);
      float dist = 0;
      if (m == metric::l2) {
        for (size_t i = 0; i < v.size(); ++i) dist += (v[i] - nq[i]) * (v[i] - nq[i]);
      } else {
        float dot = 0;
        for (size_t i = 0; i < v.size(); ++i) dot += v[i] * nq[i];
        dist = 1 - dot;
      }
      expect.emplace_back(dist, d.id);
    }
    std::sort(expect.begin(), expect.end());
    for (size_t i = 0; i < 10; ++i) {
      CHECK((*hits)[i].id == expect[i].second);
      CHECK((*hits)[i].distance == Approx(expect[i].first).margin(1e-4));
    }
  }
}

TEST_CASE("memory backend: k larger than the collection returns everything", "[memory]") {
  memory_backend b;
  REQUIRE(b.create_collection({"c", 1, metric::l2}));
  REQUIRE(b.upsert("c", {doc("a", {1}), doc("b", {3})}));
  auto hits = b.search({"c", {0}, 10, 0});
  REQUIRE(hits);
  REQUIRE(hits->size() == 2);
  CHECK((*hits)[0].id == "a");
  CHECK((*hits)[0].distance == 1.0f);
  CHECK((*hits)[1].distance == 9.0f);
}

namespace {

document versioned(std::string id, float x, uint64_t version) {
  document d = doc(std::move(id), {x, x, x}, "v" + std::to_string(version));
  d.version = version;
  return d;
}

} // namespace

TEST_CASE("memory backend: last writer wins, deletes leave tombstones", "[memory]") {
  memory_backend b;
  REQUIRE(b.create_collection({"c", 3, metric::l2}));
  REQUIRE(b.upsert("c", {versioned("a", 1, 10)}));
  SECTION("an older upsert is ignored, a newer one applies") {
    REQUIRE(b.upsert("c", {versioned("a", 2, 5)}));
    CHECK(b.get("c", "a")->version == 10);
    REQUIRE(b.upsert("c", {versioned("a", 3, 11)}));
    CHECK(b.get("c", "a")->content == "v11");
  }
  SECTION("a tombstone beats older writes and loses to newer ones") {
    CHECK_FALSE(*b.remove("c", "a", 9)); // older than the document: ignored
    CHECK(b.get("c", "a")->version == 10);
    CHECK(*b.remove("c", "a", 12));
    REQUIRE(b.upsert("c", {versioned("a", 4, 11)}));
    CHECK(b.get("c", "a").error().kind == error_kind::not_found);
    REQUIRE(b.upsert("c", {versioned("a", 5, 13)}));
    CHECK(b.get("c", "a")->version == 13);
  }
  SECTION("deleting a missing id keeps a tombstone all the same") {
    CHECK_FALSE(*b.remove("c", "ghost", 20));
    REQUIRE(b.upsert("c", {versioned("ghost", 1, 19)}));
    CHECK(b.get("c", "ghost").error().kind == error_kind::not_found);
  }
  SECTION("purged tombstones no longer hold off older writes") {
    REQUIRE(*b.remove("c", "a", 12));
    CHECK(*b.purge_tombstones(11) == 0);
    CHECK(*b.purge_tombstones(12) == 1);
    REQUIRE(b.upsert("c", {versioned("a", 6, 11)}));
    CHECK(b.get("c", "a")->version == 11);
  }
  SECTION("replaying the same write twice changes nothing") {
    REQUIRE(b.upsert("c", {versioned("a", 1, 10)}));
    CHECK(*b.get("c", "a") == versioned("a", 1, 10));
  }
}

TEST_CASE("memory backend: scan pages through live ids in byte order", "[memory]") {
  memory_backend b;
  REQUIRE(b.create_collection({"c", 3, metric::l2}));
  for (auto id : {"b", "B", "a", "\xc3\xa9", "ab", "gone"})
    REQUIRE(b.upsert("c", {versioned(id, 1, 1)}));
  REQUIRE(b.remove("c", "gone", 2));
  std::vector<std::string> seen;
  std::string after;
  for (;;) {
    auto page = b.scan({"c", after, 2, false});
    REQUIRE(page);
    for (auto& d : *page) {
      CHECK(d.vector.empty());
      CHECK(d.version == 1);
      seen.push_back(d.id);
    }
    if (page->size() < 2) break;
    after = page->back().id;
  }
  CHECK(seen == std::vector<std::string>{"B", "a", "ab", "b", "\xc3\xa9"});
  auto full = b.scan({"c", "", 10, true});
  REQUIRE(full);
  CHECK(full->front() == versioned("B", 1, 1));
  CHECK(b.scan({"c", "", 0, true}).error().kind == error_kind::invalid_argument);
  CHECK(b.scan({"nope", "", 10, true}).error().kind == error_kind::not_found);
}

TEST_CASE("memory backend: replica marker", "[memory]") {
  memory_backend b;
  CHECK(b.replica_marker()->empty());
  REQUIRE(b.set_replica_marker("m1"));
  CHECK(*b.replica_marker() == "m1");
}
