// Test helper: writes documents to a vector store and prints "ack N" after
// each acknowledged upsert, until it is killed. The crash-recovery test
// kills it with SIGKILL at a random point and checks what survived.
//   lifeline-hnsw-writer DIR
#include "backends/hnsw_backend.hpp"
#include "support/crash_docs.hpp"

#include <cstdio>

using namespace lifeline;

int main(int argc, char** argv) {
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
