// The embedded vector store: semantics, recall, durability, damage.
#include "backends/hnsw_backend.hpp"
#include "backends/memory_backend.hpp"
#include "support/temp_dir.hpp"
#include "support/vectors.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <thread>

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

TEST_CASE("vector store: create answers created, then exists, then conflict, also after a reopen",
          "[hnsw]") {
  temp_dir dir;
  {
    hnsw_backend store{config_for(dir.path())};
    REQUIRE(store.wait_loaded());
    auto first = store.create_collection({"c", 2, metric::l2});
    REQUIRE(first);
    CHECK(*first); // created
    auto again = store.create_collection({"c", 2, metric::l2});
    REQUIRE(again);
    CHECK_FALSE(*again); // an identical one existed
    CHECK(store.create_collection({"c", 2, metric::cosine}).error().kind == error_kind::conflict);
    // Of concurrent identical creates exactly one created it.
    std::vector<std::thread> threads;
    std::atomic<int> created{0}, failed{0};
    for (int i = 0; i < 8; ++i)
      threads.emplace_back([&] {
        auto r = store.create_collection({"race", 2, metric::l2});
        if (!r) ++failed;
        else if (*r) ++created;
      });
    for (auto& t : threads) t.join();
    CHECK(failed == 0);
    CHECK(created == 1);
  }
  hnsw_backend reopened{config_for(dir.path())};
  REQUIRE(reopened.wait_loaded());
  auto after = reopened.create_collection({"c", 2, metric::l2});
  REQUIRE(after);
  CHECK_FALSE(*after); // the log brought it back
  CHECK(reopened.create_collection({"c", 3, metric::l2}).error().kind == error_kind::conflict);
}

TEST_CASE("vector store: documents, updates and deletes", "[hnsw]") {
  temp_dir dir;
  hnsw_backend store{config_for(dir.path())};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"c", 2, metric::l2}));
  CHECK(store.create_collection({"c", 2, metric::l2}));
  CHECK(store.create_collection({"c", 3, metric::l2}).error().kind == error_kind::conflict);
  REQUIRE(store.upsert("c", {doc("a", {0, 0}, "A"), doc("b", {10, 10}, "B")}));
  auto a = store.get("c", "a");
  REQUIRE(a);
  CHECK(*a == doc("a", {0, 0}, "A"));
  SECTION("an update leaves the old vector unfindable") {
    REQUIRE(store.upsert("c", {doc("a", {20, 20}, "A2")}));
    auto hits = store.search({"c", {0, 0}, 2, 0});
    REQUIRE(hits);
    REQUIRE(hits->size() == 2);
    CHECK((*hits)[0].id == "b");
    CHECK((*hits)[1].id == "a");
    CHECK((*hits)[1].distance == 800.0f); // to the new vector (20,20)
    CHECK((*hits)[1].content == "A2");
    CHECK(store.collection_stats("c")->count == 2);
  }
  SECTION("a removed document disappears at once") {
    auto removed = store.remove("c", "a", 0);
    REQUIRE(removed);
    CHECK(*removed);
    CHECK(store.get("c", "a").error().kind == error_kind::not_found);
    auto hits = store.search({"c", {0, 0}, 10, 0});
    REQUIRE(hits);
    REQUIRE(hits->size() == 1);
    CHECK((*hits)[0].id == "b");
    auto again = store.remove("c", "a", 0); // only the tombstone is left
    REQUIRE(again);
    CHECK_FALSE(*again);
    CHECK(store.remove("nope", "a", 0).error().kind == error_kind::not_found);
  }
  SECTION("drop") {
    REQUIRE(store.drop_collection("c"));
    CHECK(store.get("c", "a").error().kind == error_kind::not_found);
    CHECK(store.list_collections()->empty());
  }
}

TEST_CASE("vector store: cosine normalises at write and query, ip is 1 - dot", "[hnsw]") {
  temp_dir dir;
  hnsw_backend store{config_for(dir.path())};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"cos", 2, metric::cosine}));
  REQUIRE(store.create_collection({"ip", 2, metric::ip}));
  REQUIRE(store.upsert("cos", {doc("x", {3, 0}), doc("y", {0, 5})}));
  REQUIRE(store.upsert("ip", {doc("x", {3, 0}), doc("y", {0, 5})}));
  auto c = store.search({"cos", {10, 0}, 2, 0});
  REQUIRE(c);
  CHECK((*c)[0].id == "x");
  CHECK((*c)[0].distance == Approx(0.0f).margin(1e-6));
  CHECK((*c)[1].distance == Approx(1.0f).margin(1e-6));
  CHECK(store.get("cos", "x")->vector == std::vector<float>{1, 0}); // stored normalised
  auto i = store.search({"ip", {1, 1}, 2, 0});
  REQUIRE(i);
  CHECK((*i)[0].id == "y");
  CHECK((*i)[0].distance == Approx(1.0f - 5.0f));
}

TEST_CASE("vector store: bad input is refused, never a crash", "[hnsw]") {
  temp_dir dir;
  hnsw_backend store{config_for(dir.path())};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"c", 2, metric::l2}));
  auto nan = std::numeric_limits<float>::quiet_NaN();
  auto inf = std::numeric_limits<float>::infinity();
  auto invalid = [](const auto& r) { return !r && r.error().kind == error_kind::invalid_argument; };
  CHECK(invalid(store.upsert("c", {doc("a", {1, 2, 3})})));
  CHECK(invalid(store.upsert("c", {doc("a", {nan, 2})})));
  CHECK(invalid(store.upsert("c", {doc("a", {inf, 2})})));
  CHECK(invalid(store.upsert("c", {doc("", {1, 2})})));
  CHECK(invalid(store.upsert("c", {doc(std::string(5000, 'x'), {1, 2})})));
  CHECK(invalid(store.search({"c", {1, 2}, 0, 0})));
  CHECK(invalid(store.search({"c", {1, 2}, 1u << 30, 0})));
  CHECK(invalid(store.search({"c", {1, 2}, 10, 1u << 30})));
  CHECK(invalid(store.search({"c", {1}, 10, 0})));
  CHECK(store.search({"nope", {1, 2}, 1, 0}).error().kind == error_kind::not_found);
  CHECK(store.upsert("nope", {doc("a", {1, 2})}).error().kind == error_kind::not_found);
  CHECK(store.collection_stats("c")->count == 0);
  auto empty = store.search({"c", {1, 2}, 5, 0});
  REQUIRE(empty);
  CHECK(empty->empty());
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
  CHECK(store.get("c", "b").error().kind == error_kind::not_found);
  CHECK(store.collection_stats("gone").error().kind == error_kind::not_found);
  CHECK(store.collection_stats("c")->count == 2);
  auto hits = store.search({"c", {3, 3}, 1, 0});
  REQUIRE(hits);
  CHECK((*hits)[0].id == "a");
}

TEST_CASE("vector store: a torn last log record is dropped, damage before the end is "
          "reported, not served",
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
    CHECK(store.get("c", "b").error().kind == error_kind::not_found);
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
    hnsw_backend store{cfg};
    auto loaded = store.wait_loaded();
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().message.find("corrupt") != std::string::npos);
    auto probe = store.probe();
    REQUIRE_FALSE(probe);
    CHECK(probe.error().kind == error_kind::corrupt);
    CHECK(store.get("c", "a").error().kind == error_kind::corrupt); // never half-served
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
  CHECK(store.probe().error().kind == error_kind::corrupt);
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
    CHECK(store.get("c", "d" + std::to_string(i - 1)).error().kind == error_kind::not_found);
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
