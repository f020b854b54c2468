// The per-id rule of anti-entropy repair (replication/range_merge.hpp).
#include "replication/range_merge.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;

namespace {

version_entry live(std::string id, uint64_t v) { return {std::move(id), v, false}; }
version_entry dead(std::string id, uint64_t v) { return {std::move(id), v, true}; }

} // namespace

TEST_CASE("repair merge: the newest entry wins and goes to every backend lacking it", "[repair]") {
  std::vector<std::vector<version_entry>> lists{
    {live("a", 1), live("b", 5), dead("c", 7), live("e", 2), live("f", 3)},
    {live("a", 1), live("b", 3), live("c", 6), live("d", 4), dead("f", 3)},
  };
  auto m = merge_ranges(lists);
  CHECK(m.ids == 6);
  REQUIRE(m.differences.size() == 5);
  auto& b = m.differences[0];
  CHECK(b.id == "b");
  CHECK(b.newest == live("b", 5));
  CHECK(b.source == 0);
  CHECK(b.targets == std::vector<size_t>{1});
  CHECK_FALSE(b.missing());
  CHECK(b.describe({"p", "s"}) == "id 'b': p v5, s v3");
  auto& c = m.differences[1]; // a newer tombstone wins over an older live copy
  CHECK(c.newest == dead("c", 7));
  CHECK(c.targets == std::vector<size_t>{1});
  CHECK(c.describe({"p", "s"}) == "id 'c': p v7 deleted, s v6");
  auto& d = m.differences[2]; // only on the second
  CHECK(d.id == "d");
  CHECK(d.source == 1);
  CHECK(d.targets == std::vector<size_t>{0});
  CHECK(d.missing());
  CHECK(d.describe({"p", "s"}) == "id 'd': p missing, s v4");
  CHECK(m.differences[3].id == "e");
  auto& f = m.differences[4]; // equal versions: the tombstone wins
  CHECK(f.newest == dead("f", 3));
  CHECK(f.source == 1);
  CHECK(f.targets == std::vector<size_t>{0});
}

TEST_CASE("repair merge: a tombstone against nothing is not a difference", "[repair]") {
  // Rebuilds copy live documents only and purges run per backend.
  std::vector<std::vector<version_entry>> lists{{dead("x", 9)}, {}};
  auto m = merge_ranges(lists);
  CHECK(m.ids == 1);
  CHECK(m.differences.empty());
  CHECK(needs(std::nullopt, live("x", 1)));
  CHECK_FALSE(needs(std::nullopt, dead("x", 1)));
  CHECK_FALSE(needs(live("x", 5), live("x", 4)));
  CHECK(needs(live("x", 5), dead("x", 5)));
  CHECK_FALSE(needs(dead("x", 5), live("x", 5)));
}

TEST_CASE("repair merge: three backends, each target listed once", "[repair]") {
  std::vector<std::vector<version_entry>> lists{{live("a", 2)}, {live("a", 3)}, {}};
  auto m = merge_ranges(lists);
  REQUIRE(m.differences.size() == 1);
  CHECK(m.differences[0].source == 1);
  CHECK(m.differences[0].targets == std::vector<size_t>{0, 2});
}
