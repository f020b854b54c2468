// Concurrent writes to the vector store (issue 14): batches of distinct ids
// insert in parallel, writes of one id keep last-writer-wins, deletes and
// replacements mix in, rebuilds and snapshots run meanwhile, and concurrent
// writers share one fdatasync. The end state is exactly the newest write of
// every id, before and after a reopen.
#include "backends/hnsw_backend.hpp"
#include "io/record_log.hpp"
#include "support/eventually.hpp"
#include "support/parallel_docs.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <random>
#include <sys/wait.h>
#include <unistd.h>
#include <map>
#include <mutex>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

/// The newest write of each id: its version and whether it was a delete.
using model = std::map<std::string, std::pair<uint64_t, bool>>;

void record(model& m, std::mutex& mu, const std::string& id, uint64_t version, bool deleted) {
  std::lock_guard guard{mu};
  auto& slot = m[id];
  if (version >= slot.first) slot = {version, deleted};
}

/// Every id as the model says: live ones readable and found by search,
/// deleted ones gone with their tombstone, nothing else stored.
void check_state(hnsw_backend& store, const model& m) {
  auto name = parallel_collection().name;
  auto listed = store.versions({name, "", "", 10000});
  REQUIRE(listed);
  model stored;
  for (auto& e : *listed) stored[e.id] = {e.version, e.deleted};
  CHECK(stored == m);
  size_t live = 0;
  for (auto& [id, last] : m) {
    auto got = store.get(name, id);
    if (last.second) {
      CHECK_FALSE(got);
      continue;
    }
    ++live;
    REQUIRE(got);
    CHECK(*got == parallel_doc(id, last.first));
    auto hits = store.search({name, got->vector, 1, 200});
    REQUIRE(hits);
    REQUIRE(hits->size() == 1);
    CHECK((*hits)[0].id == id);
  }
  CHECK(store.collection_stats(name)->count == live);
}

} // namespace

TEST_CASE("vector store: concurrent batches end with the newest write of every id, also "
          "after a reopen",
          "[hnsw][concurrency][parallel]") {
  temp_dir dir;
  hnsw_config cfg;
  cfg.directory = dir.path();
  cfg.index.initial_capacity = 16; // resizes while writers insert
  cfg.index.ef_construction = 40;
  cfg.rebuild_deleted_share = 0.05; // rebuilds while writers insert
  cfg.snapshot_log_bytes = 16 << 10; // and snapshots
  cfg.maintenance_interval = std::chrono::milliseconds(5);
  auto name = parallel_collection().name;
  model m;
  std::mutex mu;
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection(parallel_collection()));
    std::atomic<uint64_t> next_version{1};
    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w)
      writers.emplace_back([&, w] {
        for (uint64_t n = 0; n < 120; ++n) {
          // Own ids (replaced every 40 writes) and one every writer writes.
          std::vector<document> batch;
          for (auto& id : {own_id(w, n), own_id(w, n + 13), shared_id(n + uint64_t(w))})
            batch.push_back(parallel_doc(id, next_version++));
          if (!store.upsert(name, batch)) ++failures;
          for (auto& d : batch) record(m, mu, d.id, d.version, false);
          if (n % 4 == 3) {
            for (auto& id : {own_id(w, n + 20), shared_id(n)}) {
              auto v = next_version++;
              if (!store.remove(name, id, v)) ++failures;
              record(m, mu, id, v, true);
            }
          }
        }
      });
    for (auto& t : writers) t.join();
    CHECK(failures == 0);
    check_state(store, m);
  }
  // Everything acknowledged is in the log or a snapshot.
  hnsw_backend reopened{cfg};
  REQUIRE(reopened.wait_loaded());
  check_state(reopened, m);
}

TEST_CASE("vector store: concurrent writers share one fdatasync", "[hnsw][parallel][durability]") {
  temp_dir dir;
  hnsw_config cfg;
  cfg.directory = dir.path();
  cfg.log.mode = hnsw::sync_mode::group;
  cfg.maintenance_thread = false;
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection(parallel_collection()));
  auto name = parallel_collection().name;
  auto wal = dir.path() + "/wal";
  // Same-sized records: ids of one length.
  auto doc = [](int i) { return parallel_doc("id" + std::to_string(10 + i), 1); };
  auto before = std::filesystem::file_size(wal);
  // The first writer's sync is held until every writer has appended.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> syncs{0};
  io::test_hooks::set_sync_hook([&](const std::string& path) {
    if (path != wal) return 0;
    if (syncs++ == 0) {
      std::unique_lock guard{mu};
      cv.wait_for(guard, std::chrono::seconds(60), [&] { return release; });
    }
    return 0;
  });
  constexpr int writers = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  ts.emplace_back([&] {
    if (!store.upsert(name, {doc(0)})) ++failures;
  });
  REQUIRE(eventually([&] { return syncs.load() == 1; }));
  auto record_bytes = std::filesystem::file_size(wal) - before;
  for (int i = 1; i < writers; ++i)
    ts.emplace_back([&, i] {
      if (!store.upsert(name, {doc(i)})) ++failures;
    });
  bool all_appended = eventually(
    [&] { return std::filesystem::file_size(wal) == before + writers * record_bytes; });
  {
    std::lock_guard guard{mu};
    release = true;
  }
  cv.notify_all();
  for (auto& t : ts) t.join();
  io::test_hooks::set_sync_hook({});
  REQUIRE(all_appended);
  CHECK(failures == 0);
  // One sync for the first writer, one shared by the seven that waited.
  CHECK(syncs == 2);
  for (int i = 0; i < writers; ++i) CHECK(store.get(name, doc(i).id));
}

TEST_CASE("vector store: parallel writers killed at a random point lose no acknowledged write",
          "[hnsw][parallel][durability][crash]") {
  for (uint32_t seed : {1u, 2u, 3u}) {
    temp_dir dir;
    std::mt19937 rng{seed};
    int acks = 50 + int(rng() % 1500);
    INFO("seed " << seed << ": killed after " << acks << " acknowledgements");
    // Run the parallel writer until it has acknowledged `acks` writes.
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::execl(LIFELINE_HNSW_WRITER, LIFELINE_HNSW_WRITER, dir.path().c_str(), "parallel",
              (char*) nullptr);
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* in = ::fdopen(out[0], "r");
    model acked;
    std::mutex mu;
    char line[256];
    for (int seen = 0; seen < acks && std::fgets(line, sizeof line, in);) {
      char id[128], kind;
      unsigned long long version;
      if (std::sscanf(line, "ack %127s %llu %c", id, &version, &kind) == 3) {
        record(acked, mu, id, version, kind == 'd');
        ++seen;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::fclose(in);
    REQUIRE(WIFSIGNALED(status));
    REQUIRE_FALSE(acked.empty());

    hnsw_config cfg;
    cfg.directory = dir.path();
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    auto name = parallel_collection().name;
    auto listed = store.versions({name, "", "", 10000});
    REQUIRE(listed);
    std::map<std::string, version_entry> stored;
    for (auto& e : *listed) stored[e.id] = e;
    // Every acknowledged write is there, or a newer write of its id (one
    // in flight at the kill may have landed).
    for (auto& [id, last] : acked) {
      INFO(id << " acknowledged at version " << last.first << (last.second ? " (delete)" : ""));
      REQUIRE(stored.count(id) == 1);
      auto& e = stored[id];
      CHECK(e.version >= last.first);
      if (e.version == last.first) CHECK(e.deleted == last.second);
    }
    // Whatever is live is complete: the document of its version.
    for (auto& [id, e] : stored) {
      if (e.deleted) continue;
      auto got = store.get(name, id);
      REQUIRE(got);
      CHECK(*got == parallel_doc(id, e.version));
    }
  }
}
