// The contract for what anti-entropy repair reads (backend::versions and
// backend::digest): every stored id of a range, live or tombstone, with its
// version, in byte order of the ids; and a digest that is the same for the
// same contents whatever the store (the in-memory store is the reference).
#include "contract.hpp"
#include "helpers.hpp"

#include "backends/memory_backend.hpp"
#include "core/digest.hpp"

#include <string>
#include <vector>

using namespace lifeline;
using namespace lifeline::testing::contract;

namespace {

/// Mixed case, digits and UTF-8: byte order differs from a natural-language
/// collation's. "dead" is deleted, "ghost" never existed (only its tombstone).
void write_sample(backend& b) {
  REQUIRE(create(b, {"c", 2, metric::l2}));
  std::vector<document> docs;
  for (auto [id, version] : std::vector<std::pair<std::string, uint64_t>>{
         {"\xc3\xa9t\xc3\xa9", 11}, {"b", 12}, {"B", 13}, {"a", 14}, {"a0", 15}, {"dead", 16}})
    docs.push_back(vdoc(id, version));
  REQUIRE(b.upsert("c", docs));
  REQUIRE(removed(b.remove("c", "dead", 20)));
  REQUIRE(tombstone_only(b.remove("c", "ghost", 21)));
  REQUIRE(b.upsert("c", {vdoc("b", 22)})); // a newer version of a live one
}

/// What write_sample stores, in byte order.
const std::vector<version_entry> sample = {
  {"B", 13, false},     {"a", 14, false},     {"a0", 15, false},
  {"b", 22, false},     {"dead", 20, true},   {"ghost", 21, true},
  {"\xc3\xa9t\xc3\xa9", 11, false},
};

std::vector<version_entry> slice(size_t from, size_t to) {
  return {sample.begin() + from, sample.begin() + to};
}

} // namespace

LIFELINE_CONTRACT_CASE("versions lists live documents and tombstones in byte order",
                       "[repair]") {
  write_sample(store);
  auto all = store.versions({"c", "", "", 100});
  REQUIRE(all);
  CHECK(*all == sample);
  SECTION("a purged tombstone is no longer listed") {
    REQUIRE(store.purge_tombstones(20));
    auto after = store.versions({"c", "", "", 100});
    REQUIRE(after);
    auto expected = sample;
    std::erase_if(expected, [](auto& e) { return e.id == "dead"; });
    CHECK(*after == expected);
  }
  SECTION("an empty collection has no entries, a missing one is not_found") {
    REQUIRE(create(store, {"empty", 2, metric::l2}));
    auto none = store.versions({"empty", "", "", 10});
    REQUIRE(none);
    CHECK(none->empty());
    CHECK(error_of(store.versions({"missing", "", "", 10})) == errc::not_found);
  }
}

LIFELINE_CONTRACT_CASE("versions honours the bounds after and up_to and the limit", "[repair]") {
  write_sample(store);
  auto range = [&](std::string after, std::string up_to, uint32_t limit) {
    auto r = store.versions({"c", std::move(after), std::move(up_to), limit});
    REQUIRE(r);
    return *r;
  };
  CHECK(range("B", "b", 100) == slice(1, 4)); // after is excluded, up_to included
  CHECK(range("a", "dead", 100) == slice(2, 5));
  CHECK(range("a", "dead", 2) == slice(2, 4));
  CHECK(range("", "", 3) == slice(0, 3));
  CHECK(range("dead", "", 100) == slice(5, 7)); // no upper bound
  CHECK(range("c", "d", 100).empty());            // between stored ids
  CHECK(range("b", "a", 100).empty());            // up_to before after
  CHECK(range("ghost", "ghost", 100).empty());    // (x, x] holds nothing
  CHECK(range("dead", "ghost", 100) == slice(5, 6));
  // Paging by the last id seen covers everything exactly once.
  std::vector<version_entry> paged;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto got = range(after, "", 2);
    if (got.empty()) break;
    paged.insert(paged.end(), got.begin(), got.end());
    after = got.back().id;
  }
  CHECK(paged == sample);
}

LIFELINE_CONTRACT_CASE("digest folds versions, and equal contents give equal digests",
                       "[repair]") {
  write_sample(store);
  memory_backend reference;
  write_sample(reference);
  for (auto r : std::vector<range_request>{
         {"c", "", "", 100}, {"c", "B", "b", 100}, {"c", "a", "", 3}, {"c", "c", "d", 10}}) {
    INFO("(" << r.after << ", " << r.up_to << "] limit " << r.limit);
    auto entries = store.versions(r);
    auto digest = store.digest(r);
    REQUIRE(entries);
    REQUIRE(digest);
    CHECK(*digest == digest_of(*entries));
    CHECK(*digest == *reference.digest(r));
  }
  auto whole = *store.digest({"c", "", "", 100});
  CHECK(whole.count == sample.size());
  CHECK(whole.last == sample.back().id);
  SECTION("a different version, or a delete, changes the digest") {
    REQUIRE(store.upsert("c", {vdoc("a", 30)}));
    CHECK_FALSE(*store.digest({"c", "", "", 100}) == whole);
    REQUIRE(reference.upsert("c", {vdoc("a", 30)}));
    CHECK(*store.digest({"c", "", "", 100}) == *reference.digest({"c", "", "", 100}));
    REQUIRE(removed(store.remove("c", "a", 31)));
    CHECK_FALSE(*store.digest({"c", "", "", 100}) == *reference.digest({"c", "", "", 100}));
  }
}

LIFELINE_CONTRACT_CASE("versions and digest refuse an invalid range", "[repair][validation]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  for (auto r : std::vector<range_request>{{"c", "", "", 0},
                                           {"c", "\xff", "", 10},
                                           {"c", "", "a\xc3", 10},
                                           {"c", std::string{"a\0b", 3}, "", 10}}) {
    INFO("after " << r.after.size() << " bytes, up_to " << r.up_to.size() << " bytes, limit "
                  << r.limit);
    CHECK(error_of(store.versions(r)) == errc::invalid_argument);
    CHECK(error_of(store.digest(r)) == errc::invalid_argument);
  }
}
