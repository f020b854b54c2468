// The contract for scans (keyset pages over live documents in byte order of
// their ids, what a replica rebuild and a replica comparison read) and for
// the replica marker.
#include "contract.hpp"
#include "helpers.hpp"

#include "core/validation.hpp"

#include <algorithm>
#include <cmath>

using namespace lifeline;
using namespace lifeline::testing::contract;

LIFELINE_CONTRACT_CASE("scan pages through live documents in byte order", "[scan]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  REQUIRE(create(store, {"empty", 2, metric::l2}));
  // Byte order: upper case before lower case, UTF-8 (bytes >= 0x80) last;
  // not the order of a natural-language collation.
  std::vector<std::string> ids{"\xc3\xa9t\xc3\xa9", "b", "aa", "B", "a", "ab", "a0", "z", "dead"};
  std::vector<document> docs;
  for (size_t i = 0; i < ids.size(); ++i) docs.push_back(vdoc(ids[i], 10 + i, float(i)));
  REQUIRE(store.upsert("c", docs));
  REQUIRE(removed(store.remove("c", "dead", 100)));
  const std::vector<std::string> order{"B", "a", "a0", "aa", "ab", "b", "z", "\xc3\xa9t\xc3\xa9"};
  auto version_of = [&](const std::string& id) {
    return 10 + uint64_t(std::find(ids.begin(), ids.end(), id) - ids.begin());
  };

  SECTION("pages of two, with payload as written") {
    std::vector<std::string> seen;
    std::vector<size_t> sizes;
    std::string after;
    for (int page = 0;; ++page) {
      REQUIRE(page < 10);
      auto got = store.scan({"c", after, 2, true});
      REQUIRE(got);
      sizes.push_back(got->size());
      if (got->empty()) break;
      for (auto& d : *got) {
        auto i = size_t(std::find(ids.begin(), ids.end(), d.id) - ids.begin());
        REQUIRE(i < ids.size());
        CHECK(d == docs[i]); // vector, content, metadata and version
        seen.push_back(d.id);
      }
      after = got->back().id;
    }
    CHECK(sizes == std::vector<size_t>{2, 2, 2, 2, 0});
    CHECK(seen == order);
  }
  SECTION("ids and versions only") {
    auto got = store.scan({"c", "a", 3, false});
    REQUIRE(got);
    CHECK(ids_of(*got) == std::vector<std::string>{"a0", "aa", "ab"});
    for (auto& d : *got) {
      CHECK(d.vector.empty());
      CHECK(d.content.empty());
      CHECK(d.metadata.empty());
      CHECK(d.version == version_of(d.id));
    }
  }
  SECTION("one page holds everything, past the end is empty") {
    CHECK(ids_of(*store.scan({"c", "", 1000, false})) == order);
    CHECK(ids_of(*store.scan({"c", "", max_scan_limit, true})) == order);
    CHECK(store.scan({"c", "\xc3\xa9t\xc3\xa9", 10, true})->empty());
    CHECK(store.scan({"c", "\xf4\x8f\xbf\xbf", 10, true})->empty()); // U+10FFFF
    CHECK(store.scan({"empty", "", 10, true})->empty());
  }
  SECTION("bounds between and past the ids") {
    CHECK(ids_of(*store.scan({"c", "aa", 1, false})) == std::vector<std::string>{"ab"});
    CHECK(ids_of(*store.scan({"c", "a00", 2, false})) == std::vector<std::string>{"aa", "ab"});
    CHECK(ids_of(*store.scan({"c", "C", 10, false}))
          == std::vector<std::string>{"a", "a0", "aa", "ab", "b", "z", "\xc3\xa9t\xc3\xa9"});
    CHECK(ids_of(*store.scan({"c", "zz", 10, false}))
          == std::vector<std::string>{"\xc3\xa9t\xc3\xa9"}); // c3 > 7a
    CHECK(ids_of(*store.scan({"c", "\xc3\xa9", 10, false}))
          == std::vector<std::string>{"\xc3\xa9t\xc3\xa9"});
  }
  SECTION("bad requests") {
    CHECK(error_of(store.scan({"c", "", 0, true})) == errc::invalid_argument);
    CHECK(error_of(store.scan({"c", "", max_scan_limit + 1, true}))
          == errc::invalid_argument);
    CHECK(error_of(store.scan({"nope", "", 10, true})) == errc::not_found);
    // A bound is text, as ids are.
    CHECK(error_of(store.scan({"c", "\xff", 10, true})) == errc::invalid_argument);
    CHECK(error_of(store.scan({"c", std::string("a\0b", 3), 10, true}))
          == errc::invalid_argument);
  }
}

LIFELINE_CONTRACT_CASE("scan returns a cosine collection's stored, normalised vectors",
                       "[scan]") {
  REQUIRE(create(store, {"c", 2, metric::cosine}));
  std::vector<document> docs{{"b", {0, 2}, "bee", "", 3}, {"\xc3\xa9", {1, 0}, "e", R"({"x":1})", 4},
                             {"B", {3, 4}, "big bee", "", 1}, {"a", {1, 0}, "ay", R"({"y":[1]})", 5}};
  REQUIRE(store.upsert("c", docs));
  auto page = store.scan({"c", "", 10, true});
  REQUIRE(page);
  CHECK(ids_of(*page) == std::vector<std::string>{"B", "a", "b", "\xc3\xa9"});
  for (auto& d : *page) {
    CHECK(d == *store.get("c", d.id)); // as get returns it
    double norm = std::hypot(double(d.vector[0]), double(d.vector[1]));
    CHECK(norm == Approx(1.0).epsilon(1e-6));
  }
  CHECK(page->front().vector == std::vector<float>{0.6f, 0.8f});
}

LIFELINE_CONTRACT_CASE("the replica marker starts empty and keeps the last value set",
                       "[marker]") {
  auto empty = store.replica_marker();
  REQUIRE(empty);
  CHECK(*empty == "");
  REQUIRE(store.set_replica_marker("replica-1 \xe2\x9c\x93 epoch 7"));
  CHECK(*store.replica_marker() == "replica-1 \xe2\x9c\x93 epoch 7");
  REQUIRE(store.set_replica_marker("replica-2"));
  CHECK(*store.replica_marker() == "replica-2");
  REQUIRE(create(store, {"c", 2, metric::l2})); // data writes leave it alone
  REQUIRE(store.upsert("c", {vdoc("a", 1)}));
  CHECK(*store.replica_marker() == "replica-2");
  REQUIRE(store.set_replica_marker(""));
  CHECK(*store.replica_marker() == "");
}
