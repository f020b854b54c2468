// The contract for collections and single documents: create, list, stats,
// drop; upsert, get and remove; what each answers for a missing name.
#include "contract.hpp"
#include "helpers.hpp"

#include "core/validation.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing::contract;

namespace {

std::vector<collection_spec> sorted_list(backend& b) {
  auto listed = b.list_collections();
  REQUIRE(listed);
  auto out = *listed;
  std::sort(out.begin(), out.end(), [](auto& x, auto& y) { return x.name < y.name; });
  return out;
}

} // namespace

LIFELINE_CONTRACT_CASE("collections are created, listed, described and dropped",
                       "[collections]") {
  CHECK(sorted_list(store).empty());
  REQUIRE(create(store, {"c", 3, metric::l2}));
  CHECK(create_existing(store, {"c", 3, metric::l2})); // identical: succeeds
  CHECK(error_of(store.create_collection({"c", 4, metric::l2})) == errc::conflict);
  CHECK(error_of(store.create_collection({"c", 3, metric::ip})) == errc::conflict);
  REQUIRE(create(store, {"d.2-x_Y", 2, metric::cosine}));
  CHECK(sorted_list(store)
        == std::vector<collection_spec>{{"c", 3, metric::l2}, {"d.2-x_Y", 2, metric::cosine}});
  auto stats = store.collection_stats("c");
  REQUIRE(stats);
  CHECK(*stats == collection_stats{{"c", 3, metric::l2}, 0});

  REQUIRE(store.drop_collection("d.2-x_Y"));
  CHECK(sorted_list(store) == std::vector<collection_spec>{{"c", 3, metric::l2}});
  CHECK(error_of(store.collection_stats("d.2-x_Y")) == errc::not_found);
  CHECK(error_of(store.drop_collection("d.2-x_Y")) == errc::not_found);
  CHECK(error_of(store.collection_stats("nope")) == errc::not_found);
  CHECK(error_of(store.upsert("missing", {doc("a", {1, 2, 3})})) == errc::not_found);
  CHECK(error_of(store.get("missing", "a")) == errc::not_found);
  CHECK(error_of(store.remove("missing", "a", 1)) == errc::not_found);
}

LIFELINE_CONTRACT_CASE("create answers created, then exists, then conflict, once under a race",
                       "[collections]") {
  auto first = store.create_collection({"c", 3, metric::l2});
  REQUIRE(first);
  CHECK(*first); // created by this call
  auto again = store.create_collection({"c", 3, metric::l2});
  REQUIRE(again);
  CHECK_FALSE(*again); // an identical one existed
  CHECK(error_of(store.create_collection({"c", 3, metric::ip})) == errc::conflict);
  // Of concurrent identical creates exactly one reports that it created the
  // collection (the API answers 201 to that one and 200 to the others).
  std::vector<std::thread> threads;
  std::atomic<int> created{0}, failed{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto r = store.create_collection({"race", 2, metric::l2});
      if (!r) ++failed;
      else if (*r) ++created;
    });
  for (auto& t : threads) t.join();
  CHECK(failed == 0);
  CHECK(created == 1);
}

LIFELINE_CONTRACT_CASE("a collection spec is checked before anything is stored",
                       "[collections][validation]") {
  for (auto& spec : std::vector<collection_spec>{
         {"", 3, metric::l2},
         {"x y", 3, metric::l2},
         {"semi;colon", 3, metric::l2},
         {"caf\xc3\xa9", 3, metric::l2},
         {std::string(max_collection_name_bytes + 1, 'n'), 3, metric::l2},
         {"z", 0, metric::l2},
         {"z", max_dimension + 1, metric::l2},
         {"z", 3, static_cast<metric>(7)},
       }) {
    INFO("'" << spec.name << "' dimension " << spec.dimension);
    CHECK(error_of(store.create_collection(spec)) == errc::invalid_argument);
  }
  CHECK(sorted_list(store).empty());
  REQUIRE(create(store, {std::string(max_collection_name_bytes, 'n'), max_dimension, metric::ip}));
  CHECK(sorted_list(store).size() == 1);
}

LIFELINE_CONTRACT_CASE("a dropped collection takes its documents and tombstones along",
                       "[collections][versions]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {vdoc("a", 5), vdoc("b", 5)}));
  REQUIRE(removed(store.remove("c", "b", 6)));
  REQUIRE(store.drop_collection("c"));
  CHECK(error_of(store.get("c", "a")) == errc::not_found);
  CHECK(sorted_list(store).empty());
  // The same name again, with another spec: a new, empty collection.
  REQUIRE(create(store, {"c", 3, metric::ip}));
  CHECK(store.collection_stats("c")->count == 0);
  CHECK(error_of(store.get("c", "a")) == errc::not_found);
  REQUIRE(store.upsert("c", {{"b", {1, 2, 3}, "", "", 1}})); // b's tombstone at 6 is gone
  CHECK(store.get("c", "b")->version == 1);
}

LIFELINE_CONTRACT_CASE("what goes in comes out: upsert, get, remove", "[documents]") {
  REQUIRE(create(store, {"c", 3, metric::l2}));
  document a{"a", {1.5f, -2.25f, 3.1f}, "alpha", R"({"tag": "x"})", 7};
  document b{"b", {0, 0, 0}, "", "", 0};
  REQUIRE(store.upsert("c", {a, b}));
  auto got = store.get("c", "a");
  REQUIRE(got);
  CHECK(*got == a);
  CHECK(*store.get("c", "b") == b); // no metadata comes back as none
  CHECK(store.collection_stats("c")->count == 2);
  CHECK(error_of(store.get("c", "nope")) == errc::not_found);
  SECTION("an upsert replaces the document") {
    REQUIRE(store.upsert("c", {{"a", {7, 8, 9}, "new", "", 7}}));
    CHECK(*store.get("c", "a") == document{"a", {7, 8, 9}, "new", "", 7});
    CHECK(store.collection_stats("c")->count == 2);
  }
  SECTION("remove deletes, a second remove finds nothing live and is not an error") {
    auto first = store.remove("c", "a", 8);
    REQUIRE(first);
    CHECK(*first);
    CHECK(error_of(store.get("c", "a")) == errc::not_found);
    CHECK(store.collection_stats("c")->count == 1);
    auto second = store.remove("c", "a", 9);
    REQUIRE(second);
    CHECK_FALSE(*second);
    CHECK(error_of(store.remove("c", "", 10)) == errc::invalid_argument);
  }
  SECTION("drop removes the collection") {
    REQUIRE(store.drop_collection("c"));
    CHECK(error_of(store.get("c", "a")) == errc::not_found);
    CHECK(error_of(store.collection_stats("c")) == errc::not_found);
    CHECK(store.list_collections()->empty());
  }
}

LIFELINE_CONTRACT_CASE("an update or a remove is seen by search at once",
                       "[documents][search]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {doc("a", {0, 0}, "A"), doc("b", {10, 10}, "B")}));
  SECTION("an update leaves the old vector unfindable") {
    REQUIRE(store.upsert("c", {doc("a", {20, 20}, "A2")}));
    auto hits = store.search({"c", {0, 0}, 2, 0});
    REQUIRE(hits);
    REQUIRE(hits->size() == 2);
    CHECK((*hits)[0].id == "b");
    CHECK((*hits)[1].id == "a");
    CHECK((*hits)[1].distance == 800.0f); // to the new vector (20,20)
    CHECK((*hits)[1].content == "A2");
    CHECK((*hits)[1].metadata == R"({"id":"a"})");
    CHECK(store.collection_stats("c")->count == 2);
  }
  SECTION("a removed document disappears from search") {
    REQUIRE(removed(store.remove("c", "a", 0)));
    auto hits = store.search({"c", {0, 0}, 10, 0});
    REQUIRE(hits);
    REQUIRE(hits->size() == 1);
    CHECK((*hits)[0].id == "b");
  }
}
