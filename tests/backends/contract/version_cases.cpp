// The contract for versioned writes: last writer wins on document::version,
// deletes leave tombstones, reads never see them, purges forget them.
#include "contract.hpp"
#include "helpers.hpp"

#include <atomic>
#include <cstdint>
#include <limits>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing::contract;

LIFELINE_CONTRACT_CASE("last writer wins on document versions", "[versions]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {vdoc("a", 5)}));
  SECTION("an older upsert is skipped and still succeeds, an equal or newer one applies") {
    REQUIRE(store.upsert("c", {vdoc("a", 3, 9)}));
    CHECK(*store.get("c", "a") == vdoc("a", 5));
    auto same = vdoc("a", 5, 1);
    same.content = "rewritten at the same version";
    REQUIRE(store.upsert("c", {same})); // a replay or a retry
    CHECK(*store.get("c", "a") == same);
    REQUIRE(store.upsert("c", {vdoc("a", 7, 2)}));
    CHECK(*store.get("c", "a") == vdoc("a", 7, 2));
  }
  SECTION("a batch is decided document by document, in order") {
    REQUIRE(store.upsert("c", {vdoc("a", 4), vdoc("b", 2), vdoc("b", 1), vdoc("n", 0)}));
    CHECK(live_version(store, "a") == 5);
    CHECK(live_version(store, "b") == 2);
    CHECK(store.get("c", "n"));
    CHECK(store.collection_stats("c")->count == 3);
  }
  SECTION("duplicates in a batch: the newest wins, the last of equals") {
    auto last = vdoc("d", 9, 3);
    last.content = "d9 last";
    REQUIRE(store.upsert("c", {vdoc("d", 9), vdoc("d", 8), last, vdoc("d", 7)}));
    CHECK(*store.get("c", "d") == last);
    CHECK(store.collection_stats("c")->count == 2);
  }
  SECTION("replaying the same write twice changes nothing") {
    REQUIRE(store.upsert("c", {vdoc("a", 5)}));
    CHECK(*store.get("c", "a") == vdoc("a", 5));
    CHECK(store.collection_stats("c")->count == 1);
  }
  SECTION("a version above 2^63 - 1 is refused") {
    auto too_new = uint64_t(std::numeric_limits<int64_t>::max()) + 1;
    CHECK(error_of(store.upsert("c", {vdoc("e", too_new)})) == errc::invalid_argument);
    CHECK(error_of(store.get("c", "e")) == errc::not_found);
    REQUIRE(store.upsert("c", {vdoc("e", uint64_t(std::numeric_limits<int64_t>::max()))}));
    CHECK(live_version(store, "e") == uint64_t(std::numeric_limits<int64_t>::max()));
  }
}

LIFELINE_CONTRACT_CASE("a tombstone beats older writes and loses to newer ones", "[versions]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {vdoc("a", 5)}));
  CHECK(tombstone_only(store.remove("c", "a", 4))); // older than the document: nothing happens
  CHECK(*store.get("c", "a") == vdoc("a", 5));
  CHECK(removed(store.remove("c", "a", 7)));
  CHECK(error_of(store.get("c", "a")) == errc::not_found);
  REQUIRE(store.upsert("c", {vdoc("a", 6)})); // older than the tombstone: skipped
  CHECK(error_of(store.get("c", "a")) == errc::not_found);
  CHECK(tombstone_only(store.remove("c", "a", 6))); // an older tombstone does not replace it...
  REQUIRE(store.upsert("c", {vdoc("a", 6)}));
  CHECK(error_of(store.get("c", "a")) == errc::not_found); // ...which still holds at 7
  REQUIRE(store.upsert("c", {vdoc("a", 7, 1)})); // equal to the tombstone: the upsert wins
  CHECK(*store.get("c", "a") == vdoc("a", 7, 1));
  REQUIRE(store.upsert("c", {vdoc("a", 8, 2)}));
  CHECK(*store.get("c", "a") == vdoc("a", 8, 2));
  CHECK(store.collection_stats("c")->count == 1);
  CHECK(removed(store.remove("c", "a", 8))); // equal to the document: the remove wins
  CHECK(error_of(store.get("c", "a")) == errc::not_found);
  CHECK(store.collection_stats("c")->count == 0);

  SECTION("removing a missing id is not an error, and its tombstone is kept") {
    CHECK(tombstone_only(store.remove("c", "ghost", 10)));
    REQUIRE(store.upsert("c", {vdoc("ghost", 9)}));
    CHECK(error_of(store.get("c", "ghost")) == errc::not_found);
    CHECK(tombstone_only(store.remove("c", "ghost", 10))); // again: nothing changes
    REQUIRE(store.upsert("c", {vdoc("ghost", 11)}));
    CHECK(live_version(store, "ghost") == 11);
  }
  SECTION("a remove with a version above 2^63 - 1 is refused") {
    auto too_new = uint64_t(std::numeric_limits<int64_t>::max()) + 1;
    REQUIRE(store.upsert("c", {vdoc("b", 1)}));
    CHECK(error_of(store.remove("c", "b", too_new)) == errc::invalid_argument);
    CHECK(live_version(store, "b") == 1);
  }
  SECTION("concurrent removes: exactly one of them deleted the document") {
    REQUIRE(store.upsert("c", {vdoc("x", 1)}));
    std::atomic<int> deleted{0}, failed{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&, i] {
        for (auto& id : {std::string{"x"}, "fresh" + std::to_string(i % 2)}) {
          auto r = store.remove("c", id, uint64_t(2 + i));
          if (!r) ++failed;
          else if (*r) ++deleted;
        }
      });
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(deleted == 1);
    // Whatever the order, the newest tombstone is the one kept.
    REQUIRE(store.upsert("c", {vdoc("x", 8), vdoc("fresh0", 7), vdoc("fresh1", 8)}));
    CHECK(error_of(store.get("c", "x")) == errc::not_found);      // tombstone at 9
    CHECK(error_of(store.get("c", "fresh0")) == errc::not_found); // tombstone at 8
    CHECK(error_of(store.get("c", "fresh1")) == errc::not_found); // tombstone at 9
    REQUIRE(store.upsert("c", {vdoc("x", 9)}));
    CHECK(live_version(store, "x") == 9);
  }
}

LIFELINE_CONTRACT_CASE("get, count, search and scan ignore tombstones", "[versions]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {{"near", {0, 0}, "n", "", 1}, {"mid", {1, 1}, "m", "", 1},
                             {"far", {5, 5}, "f", "", 1}}));
  REQUIRE(removed(store.remove("c", "near", 2)));
  REQUIRE(tombstone_only(store.remove("c", "ghost", 3)));
  CHECK(error_of(store.get("c", "near")) == errc::not_found);
  CHECK(error_of(store.get("c", "ghost")) == errc::not_found);
  CHECK(store.collection_stats("c")->count == 2);
  auto hits = store.search({"c", {0, 0}, 10, 0});
  REQUIRE(hits);
  REQUIRE(hits->size() == 2);
  CHECK((*hits)[0].id == "mid");
  CHECK((*hits)[0].content == "m");
  CHECK((*hits)[1].id == "far");
  CHECK(ids_of(*store.scan({"c", "", 10, true})) == std::vector<std::string>{"far", "mid"});
  CHECK(ids_of(*store.scan({"c", "", 10, false})) == std::vector<std::string>{"far", "mid"});
}

LIFELINE_CONTRACT_CASE("purging forgets only tombstones up to a version, in every collection",
                       "[versions][purge]") {
  REQUIRE(create(store, {"one", 1, metric::l2}));
  REQUIRE(create(store, {"two", 1, metric::l2}));
  CHECK(*store.purge_tombstones(100) == 0);
  REQUIRE(store.upsert("one", {{"a", {1}, "", "", 1}, {"b", {1}, "", "", 1},
                               {"live", {1}, "", "", 3}}));
  REQUIRE(store.upsert("two", {{"a", {1}, "", "", 1}}));
  REQUIRE(removed(store.remove("one", "a", 5)));
  REQUIRE(removed(store.remove("one", "b", 10)));
  REQUIRE(removed(store.remove("two", "a", 7)));
  REQUIRE(tombstone_only(store.remove("two", "never", 2)));
  CHECK(*store.purge_tombstones(1) == 0); // every tombstone is newer
  auto purged = store.purge_tombstones(7);
  REQUIRE(purged);
  CHECK(*purged == 3); // one/a at 5, two/a at 7, two/never at 2
  CHECK(*store.purge_tombstones(7) == 0);
  // Forgotten: an older write applies again. Kept: it still wins.
  REQUIRE(store.upsert("one", {{"a", {1}, "back", "", 3}, {"b", {1}, "back", "", 9}}));
  REQUIRE(store.upsert("two", {{"never", {1}, "back", "", 1}}));
  CHECK(store.get("one", "a")->content == "back");
  CHECK(store.get("two", "never")->content == "back");
  CHECK(error_of(store.get("one", "b")) == errc::not_found);
  CHECK(store.get("one", "live")); // live documents are never purged, whatever their version
  CHECK(*store.purge_tombstones(std::numeric_limits<uint64_t>::max()) == 1);
  CHECK(store.collection_stats("one")->count == 2);
  REQUIRE(store.upsert("one", {{"b", {1}, "back", "", 1}}));
  CHECK(store.get("one", "b")->content == "back");
}
