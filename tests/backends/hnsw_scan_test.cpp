// The vector store's id-ordered paging: scan pages and versions() ranges
// (live ids and tombstones) come from the ordered index of ids, in byte
// order, and survive a reopen from the log and from a snapshot. What every
// backend answers is the contract's (contract/repair_cases.cpp); these are
// the store's own cases.
#include "backends/hnsw_backend.hpp"
#include "core/digest.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

hnsw_config config_for(const std::string& dir) {
  hnsw_config cfg;
  cfg.directory = dir;
  cfg.index.initial_capacity = 16;
  cfg.maintenance_thread = false;
  return cfg;
}

document vdoc(const std::string& id, uint64_t version) {
  return document{id, {float(version), 1}, "", "{}", version};
}

std::vector<version_entry> versions(hnsw_backend& store, std::string after, std::string up_to,
                                    uint32_t limit = 100) {
  auto v = store.versions({"c", std::move(after), std::move(up_to), limit});
  REQUIRE(v);
  return *v;
}

} // namespace

TEST_CASE("vector store: versions() lists live ids and tombstones of a range in id order",
          "[hnsw][versions][repair]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  std::vector<version_entry> all = {{"a", 1, false}, {"b", 2, true}, {"c", 4, true},
                                    {"d", 6, false}, {"e", 5, false}, {"é", 7, false}};
  auto check_all = [&](hnsw_backend& store) {
    CHECK(versions(store, "", "") == all);
    CHECK(versions(store, "b", "d") == std::vector<version_entry>{all[2], all[3]});
    CHECK(versions(store, "", "", 2) == std::vector<version_entry>{all[0], all[1]});
    CHECK(versions(store, "e", "") == std::vector<version_entry>{all[5]}); // byte order
    CHECK(versions(store, "a0", "b") == std::vector<version_entry>{all[1]});
    CHECK(versions(store, "é", "").empty());
    auto d = store.digest({"c", "", "", 100});
    REQUIRE(d);
    CHECK(*d == digest_of(all));
    CHECK(d->last == "é");
    CHECK(*store.digest({"c", "a", "d", 2}) == digest_of({all[1], all[2]}));
  };
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.upsert("c", {vdoc("a", 1), vdoc("c", 3), vdoc("e", 5), vdoc("é", 7)}));
    REQUIRE(store.remove("c", "b", 2)); // never existed: a tombstone
    REQUIRE(store.remove("c", "c", 4));
    REQUIRE(store.upsert("c", {vdoc("d", 6)}));
    check_all(store);
    CHECK(store.versions({"c", "", "", 0}).error().kind == errc::invalid_argument);
    CHECK(store.versions({"c", std::string("a\0b", 3), "", 10}).error().kind
          == errc::invalid_argument);
    CHECK(store.versions({"nope", "", "", 10}).error().kind == errc::not_found);
    CHECK(store.digest({"c", "", "", 0}).error().kind == errc::invalid_argument);
  }
  SECTION("after a reopen from the log") {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    check_all(store);
  }
  SECTION("after a reopen from a snapshot, and a purge") {
    {
      hnsw_backend store{cfg};
      REQUIRE(store.wait_loaded());
      REQUIRE(store.snapshot());
    }
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    check_all(store);
    CHECK(*store.purge_tombstones(2) == 1);
    CHECK(versions(store, "", "c") == std::vector<version_entry>{all[0], all[2]});
  }
}

TEST_CASE("vector store: scan pages through every live id once, in order",
          "[hnsw][scan]") {
  temp_dir dir;
  hnsw_backend store{config_for(dir.path())};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"c", 2, metric::l2}));
  std::vector<document> docs;
  for (int i = 2499; i >= 0; --i) {
    char id[16];
    std::snprintf(id, sizeof id, "id-%05d", i);
    docs.push_back(vdoc(id, uint64_t(i) + 1));
  }
  REQUIRE(store.upsert("c", docs));
  for (int i = 0; i < 2500; i += 7) REQUIRE(store.remove("c", docs[size_t(2499 - i)].id, 1u << 20));
  std::vector<std::string> seen;
  std::string after;
  for (;;) {
    auto page = store.scan({"c", after, 1000, false});
    REQUIRE(page);
    if (page->empty()) break;
    CHECK(page->size() <= 1000);
    for (auto& d : *page) seen.push_back(d.id);
    after = page->back().id;
  }
  std::vector<std::string> expected;
  for (int i = 0; i < 2500; ++i)
    if (i % 7 != 0) {
      char id[16];
      std::snprintf(id, sizeof id, "id-%05d", i);
      expected.push_back(id);
    }
  CHECK(seen == expected);
  auto with_payload = store.scan({"c", "id-00000", 1, true});
  REQUIRE(with_payload->size() == 1);
  CHECK(with_payload->front().id == "id-00001");
  CHECK(with_payload->front().vector == std::vector<float>{2, 1});
}
