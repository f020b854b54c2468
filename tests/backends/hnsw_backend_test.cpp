// The embedded vector store's own behaviour: recall, durability, damage,
// rebuilds and its directory lock. What every backend does (documents,
// metrics, bad input) is the backend contract's (contract/*_cases.cpp), run
// against this store by contract_hnsw_test.cpp.
#include "backends/hnsw_backend.hpp"
#include "backends/memory_backend.hpp"
#include "support/temp_dir.hpp"
#include "support/vectors.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

hnsw_config config_for(const std::string& dir) {
  hnsw_config cfg;
  cfg.directory = dir;
  cfg.index.initial_capacity = 16; // so that tests grow the index
  cfg.maintenance_interval = std::chrono::hours(1); // tests call maintenance themselves
  return cfg;
}

document doc(const std::string& id, std::vector<float> v, std::string content = "") {
  return document{id, std::move(v), std::move(content), R"({"id":")" + id + "\"}", 0};
}

/// True if the remove succeeded and deleted a live document.
bool deleted(const expected<bool>& r) { return r && *r; }

} // namespace

TEST_CASE("vector store: a collection created before a reopen answers exists after it", "[hnsw]") {
  temp_dir dir;
  {
    hnsw_backend store{config_for(dir.path())};
    REQUIRE(store.wait_loaded());
    auto first = store.create_collection({"c", 2, metric::l2});
    REQUIRE(first);
    CHECK(*first);
  }
  hnsw_backend reopened{config_for(dir.path())};
  REQUIRE(reopened.wait_loaded());
  auto after = reopened.create_collection({"c", 2, metric::l2});
  REQUIRE(after);
  CHECK_FALSE(*after); // the log brought it back
  CHECK(reopened.create_collection({"c", 3, metric::l2}).error().kind == errc::conflict);
}

TEST_CASE("vector store: recall@10 >= 0.95 against brute force on 20k clustered vectors",
          "[hnsw][recall]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  cfg.index.ef_construction = 100;
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  memory_backend exact;
  constexpr uint32_t dim = 32;
  REQUIRE(store.create_collection({"c", dim, metric::l2}));
  REQUIRE(exact.create_collection({"c", dim, metric::l2}));
  clustered_vectors gen{dim, 50, 1};
  for (int start = 0; start < 20000; start += 1000) {
    std::vector<document> batch;
    for (int i = start; i < start + 1000; ++i) batch.push_back({"d" + std::to_string(i), gen.next(), "", "", 0});
    REQUIRE(store.upsert("c", batch));
    REQUIRE(exact.upsert("c", batch));
  }
  size_t found = 0, wanted = 0;
  for (int q = 0; q < 100; ++q) {
    auto v = gen.next();
    auto approx = store.search({"c", v, 10, 64});
    auto truth = exact.search({"c", v, 10, 0});
    REQUIRE(approx);
    REQUIRE(truth);
    std::set<std::string> ids;
    for (auto& h : *approx) ids.insert(h.id);
    for (auto& h : *truth) found += ids.count(h.id);
    wanted += truth->size();
  }
  double recall = double(found) / double(wanted);
  INFO("recall@10 = " << recall);
  CHECK(recall >= 0.95);
}

TEST_CASE("vector store: every write survives a reopen, with and without a snapshot",
          "[hnsw][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.create_collection({"gone", 2, metric::l2}));
    REQUIRE(store.upsert("c", {doc("a", {1, 1}, "A"), doc("b", {2, 2}, "B")}));
    REQUIRE(store.snapshot());
    REQUIRE(store.upsert("c", {doc("a", {3, 3}, "A2"), doc("c", {4, 4}, "C")}));
    REQUIRE(deleted(store.remove("c", "b", 0)));
    REQUIRE(store.drop_collection("gone"));
  }
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  CHECK(*store.get("c", "a") == doc("a", {3, 3}, "A2"));
  CHECK(*store.get("c", "c") == doc("c", {4, 4}, "C"));
  CHECK(store.get("c", "b").error().kind == errc::not_found);
  CHECK(store.collection_stats("gone").error().kind == errc::not_found);
  CHECK(store.collection_stats("c")->count == 2);
  auto hits = store.search({"c", {3, 3}, 1, 0});
  REQUIRE(hits);
  CHECK((*hits)[0].id == "a");
}

TEST_CASE("vector store: a torn last log record is dropped, damage before the end is "
          "set aside, not served",
          "[hnsw][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.upsert("c", {doc("a", {1, 1})}));
    REQUIRE(store.upsert("c", {doc("b", {2, 2})}));
  }
  auto wal = dir.path() + "/wal";
  auto size = std::filesystem::file_size(wal);
  SECTION("torn tail") {
    std::filesystem::resize_file(wal, size - 3);
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    CHECK(store.get("c", "a"));
    CHECK(store.get("c", "b").error().kind == errc::not_found);
    REQUIRE(store.upsert("c", {doc("c", {3, 3})})); // appends after the cut
  }
  SECTION("a zero-filled tail (the file grew, its data never landed)") {
    std::ofstream{wal, std::ios::app | std::ios::binary} << std::string(4096, '\0');
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    CHECK(store.get("c", "a"));
    CHECK(store.get("c", "b"));
  }
  SECTION("garbage in the middle") {
    std::fstream f{wal, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(12); // inside the first record's payload
    f.put('\x7f');
    f.close();
    // Never half-served: the damaged log is set aside and the store starts
    // empty, to be rebuilt (hnsw_faults_test.cpp has the details).
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    CHECK(store.damage().find("at byte 0 (checksum mismatch") != std::string::npos);
    CHECK(store.get("c", "a").error().kind == errc::not_found);
    CHECK(store.list_collections()->empty());
  }
}

TEST_CASE("vector store: a damaged snapshot is reported, not loaded", "[hnsw][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 4, metric::l2}));
    REQUIRE(store.upsert("c", {doc("a", {1, 1, 1, 1})}));
    REQUIRE(store.snapshot());
  }
  std::string snap;
  for (auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().filename().string().rfind("snapshot-", 0) == 0) snap = e.path().string();
  REQUIRE_FALSE(snap.empty());
  auto index_file = snap + "/c0.hnsw";
  auto size = std::filesystem::file_size(index_file);
  SECTION("a flipped byte in the index") {
    std::fstream f{index_file, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(std::streamoff(size / 2));
    f.put('\x55');
  }
  SECTION("a truncated index") { std::filesystem::resize_file(index_file, size / 3); }
  SECTION("a truncated manifest") { std::filesystem::resize_file(snap + "/manifest", 10); }
  hnsw_backend store{cfg};
  auto loaded = store.wait_loaded();
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.find("snapshot") != std::string::npos);
  CHECK(store.probe().error().kind == errc::corrupt_response);
}

TEST_CASE("vector store: the index grows and is rebuilt when deletes pile up", "[hnsw]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  cfg.rebuild_deleted_share = 0.3;
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"c", 8, metric::l2}));
  clustered_vectors gen{8, 10, 3};
  std::vector<document> all;
  for (int i = 0; i < 3000; ++i) all.push_back({"d" + std::to_string(i), gen.next(), "", "", 0});
  for (auto& d : all) REQUIRE(store.upsert("c", {d})); // one at a time: many resizes
  for (int i = 0; i < 3000; i += 2) REQUIRE(deleted(store.remove("c", "d" + std::to_string(i), 0)));
  auto before = store.memory_bytes();
  store.rebuild_if_needed();
  CHECK(store.memory_bytes() <= before);
  CHECK(store.collection_stats("c")->count == 1500);
  for (int i = 1; i < 3000; i += 300) {
    auto hits = store.search({"c", all[size_t(i)].vector, 1, 0});
    REQUIRE(hits);
    REQUIRE(hits->size() == 1);
    CHECK((*hits)[0].id == "d" + std::to_string(i)); // itself, at distance 0
    CHECK(store.get("c", "d" + std::to_string(i - 1)).error().kind == errc::not_found);
  }
  // Survives a reopen after the rebuild too.
  REQUIRE(store.snapshot());
}

TEST_CASE("vector store: one instance per directory", "[hnsw]") {
  temp_dir dir;
  hnsw_backend first{config_for(dir.path())};
  REQUIRE(first.wait_loaded());
  hnsw_backend second{config_for(dir.path())};
  auto loaded = second.wait_loaded();
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.find("in use") != std::string::npos);
  CHECK(first.probe());
}

TEST_CASE("vector store: a snapshot with nothing new is harmless", "[hnsw][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.upsert("c", {doc("a", {1, 1})}));
    REQUIRE(store.snapshot());
    REQUIRE(store.snapshot());
  }
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  CHECK(store.get("c", "a"));
}
