// Resize and rebuild while searches run and writes go on. Also built with
// ThreadSanitizer (lifeline-tsan-tests), which fails on any data race.
#include "backends/hnsw_backend.hpp"
#include "support/temp_dir.hpp"
#include "support/vectors.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;

TEST_CASE("vector store: searches run alongside writes, resizes and rebuilds",
          "[hnsw][concurrency]") {
  temp_dir dir;
  hnsw_config cfg;
  cfg.directory = dir.path();
  cfg.index.initial_capacity = 16;
  cfg.index.ef_construction = 40;
  cfg.log.mode = hnsw::sync_mode::interval; // the test is about memory, not fsync
  cfg.maintenance_interval = std::chrono::hours(1);
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  constexpr uint32_t dim = 8;
  REQUIRE(store.create_collection({"c", dim, metric::l2}));
  std::atomic<bool> done{false};
  std::atomic<uint64_t> searches{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&, t] {
      clustered_vectors gen{dim, 10, uint32_t(100 + t)};
      while (!done) {
        auto hits = store.search({"c", gen.next(), 10, 32});
        if (!hits || hits->size() > 10) ++bad;
        std::set<std::string> ids;
        for (size_t i = 0; hits && i < hits->size(); ++i) {
          if (!ids.insert((*hits)[i].id).second) ++bad;
          if (i > 0 && (*hits)[i].distance < (*hits)[i - 1].distance) ++bad;
        }
        ++searches;
      }
    });
  clustered_vectors gen{dim, 10, 7};
  std::map<std::string, std::vector<float>> model;
  std::thread rebuilder;
  for (int i = 0; i < 3000; ++i) {
    auto id = "d" + std::to_string(i % 2000); // later writes replace earlier ones
    auto v = gen.next();
    REQUIRE(store.upsert("c", {{id, v, "", "", 0}}));
    model[id] = v;
    if (i % 3 == 0 && i > 0) {
      auto victim = "d" + std::to_string((i * 7) % 2000);
      if (model.erase(victim)) {
        auto removed = store.remove("c", victim, 0);
        REQUIRE(removed);
        REQUIRE(*removed);
      }
    }
    if (i == 1500) rebuilder = std::thread{[&] { store.rebuild_if_needed(); }};
  }
  rebuilder.join();
  store.rebuild_if_needed(); // and once more with no writes in between
  done = true;
  for (auto& r : readers) r.join();
  CHECK(bad == 0);
  CHECK(searches > 0);
  CHECK(store.collection_stats("c")->count == model.size());
  size_t checked = 0;
  for (auto& [id, v] : model) {
    auto got = store.get("c", id);
    REQUIRE(got);
    CHECK(got->vector == v);
    if (++checked % 50 == 0) {
      auto hits = store.search({"c", v, 1, 64});
      REQUIRE(hits);
      REQUIRE(hits->size() == 1);
      CHECK((*hits)[0].distance == 0.0f);
    }
  }
}
