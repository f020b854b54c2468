// Test helper: writes documents to a vector store and prints "ack N" after
// each acknowledged upsert, until it is killed. The crash-recovery test
// kills it with SIGKILL at a random point and checks what survived.
//   lifeline-hnsw-writer DIR
//   lifeline-hnsw-writer DIR parallel   four threads writing batches of
//     overlapping ids with deletes mixed in; prints "ack ID VERSION u|d"
//     after each acknowledged write (support/parallel_docs.hpp)
#include "backends/hnsw_backend.hpp"
#include "support/crash_docs.hpp"
#include "support/parallel_docs.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

using namespace lifeline;

namespace {

int write_in_parallel(const char* dir) {
  hnsw_config cfg;
  cfg.directory = dir;
  cfg.index.initial_capacity = 16;
  cfg.index.ef_construction = 40;
  cfg.snapshot_log_bytes = 32 << 10;
  cfg.rebuild_deleted_share = 0.1;
  cfg.maintenance_interval = std::chrono::milliseconds(5);
  hnsw_backend store{cfg};
  if (!store.wait_loaded()) return 3;
  auto name = testing::parallel_collection().name;
  if (!store.create_collection(testing::parallel_collection())) return 4;
  std::printf("ready\n");
  std::fflush(stdout);
  std::atomic<uint64_t> next_version{1};
  std::mutex out;
  auto ack = [&](const std::string& id, uint64_t version, char kind) {
    std::lock_guard guard{out};
    std::printf("ack %s %llu %c\n", id.c_str(), (unsigned long long) version, kind);
    std::fflush(stdout);
  };
  std::vector<std::thread> ts;
  for (int w = 0; w < 4; ++w)
    ts.emplace_back([&, w] {
      for (uint64_t n = 0;; ++n) {
        std::vector<document> batch;
        for (auto& id : {testing::own_id(w, n), testing::own_id(w, n + 13), testing::shared_id(n + uint64_t(w))})
          batch.push_back(testing::parallel_doc(id, next_version++));
        if (!store.upsert(name, batch)) std::_Exit(5);
        for (auto& d : batch) ack(d.id, d.version, 'u');
        if (n % 4 == 3)
          for (auto& id : {testing::own_id(w, n + 20), testing::shared_id(n)}) {
            auto v = next_version++;
            if (!store.remove(name, id, v)) std::_Exit(6);
            ack(id, v, 'd');
          }
      }
    });
  for (auto& t : ts) t.join(); // never: the test kills the process
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string{argv[2]} == "parallel") return write_in_parallel(argv[1]);
  if (argc != 2) return 2;
  hnsw_config cfg;
  cfg.directory = argv[1];
  cfg.index.initial_capacity = 64;
  cfg.index.ef_construction = 40;
  cfg.snapshot_log_bytes = 32 << 10; // snapshots happen during the run too
  cfg.maintenance_interval = std::chrono::milliseconds(5);
  hnsw_backend store{cfg};
  if (!store.wait_loaded()) return 3;
  if (!store.create_collection(testing::crash_collection())) return 4;
  std::printf("ready\n");
  std::fflush(stdout);
  for (uint64_t i = 0;; ++i) {
    // Every third write is a batch of two, every seventh a remove.
    std::vector<document> docs{testing::crash_doc(i)};
    if (i % 3 == 0) docs.push_back(testing::crash_doc(i + 1000000));
    if (!store.upsert(testing::crash_collection().name, docs)) return 5;
    if (i % 7 == 6) {
      auto victim = testing::crash_doc(i - 1);
      auto removed = store.remove(testing::crash_collection().name, victim.id, victim.version);
      if (!removed || !*removed) return 6;
    }
    std::printf("ack %llu\n", (unsigned long long) i);
    std::fflush(stdout);
  }
}
