// The vector store under storage faults: a torn log tail against damage in
// the middle of the log, a sync that fails or is held (fault injection by
// io/record_log's test hook around the real store), and the back-off of a
// snapshot that keeps failing.
#include "backends/hnsw_backend.hpp"
#include "io/record_log.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

hnsw_config config_for(const std::string& dir) {
  hnsw_config cfg;
  cfg.directory = dir;
  cfg.index.initial_capacity = 16;
  cfg.maintenance_thread = false; // tests call maintain() themselves
  return cfg;
}

document doc(const std::string& id, float x, uint64_t version = 1) {
  return document{id, {x, x}, "content " + id, "{}", version};
}

std::string read_all(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// Offsets of the framed records ([u32 length][u32 CRC][payload]) of a log.
std::vector<uint64_t> record_offsets(const std::string& path) {
  auto bytes = read_all(path);
  std::vector<uint64_t> out;
  uint64_t pos = 0;
  while (pos + 8 <= bytes.size()) {
    uint32_t len;
    std::memcpy(&len, bytes.data() + pos, 4);
    out.push_back(pos);
    pos += 8 + len;
  }
  return out;
}

void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  f.seekg(std::streamoff(offset));
  char c = char(f.get());
  f.seekp(std::streamoff(offset));
  f.put(char(c ^ 0x5a));
}

/// The "<unix ms>.damaged" directories in `dir`.
std::vector<fs::path> damaged_dirs(const std::string& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".damaged") out.push_back(e.path());
  return out;
}

/// Clears the sync hook when a test ends, however it ends.
struct sync_hook_guard {
  ~sync_hook_guard() { io::test_hooks::set_sync_hook({}); }
};

} // namespace

TEST_CASE("vector store: a torn last record is cut and everything before it loads, marker kept",
          "[hnsw][durability][damage]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.set_replica_marker("m1"));
    for (auto id : {"a", "b", "c"}) REQUIRE(store.upsert("c", {doc(id, 1)}));
  }
  auto wal = dir.path() + "/wal";
  auto offsets = record_offsets(wal);
  REQUIRE(offsets.size() == 4); // create, a, b, c
  fs::resize_file(wal, fs::file_size(wal) - 3); // the last append, cut short
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  CHECK(store.damage().empty());
  CHECK(store.get("c", "a"));
  CHECK(store.get("c", "b"));
  CHECK(store.get("c", "c").error().kind == errc::not_found);
  CHECK(*store.replica_marker() == "m1"); // nothing acknowledged was lost
  CHECK(fs::file_size(wal) == offsets[3]); // cut right after the last intact record
  CHECK(damaged_dirs(dir.path()).empty());
  REQUIRE(store.upsert("c", {doc("d", 4)}));
}

TEST_CASE("vector store: damage mid-log with records after it sets the files aside and clears "
          "the marker",
          "[hnsw][durability][damage]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  bool with_snapshot = GENERATE(false, true);
  INFO("with a snapshot before the log: " << with_snapshot);
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.upsert("c", {doc("s", 9)}));
    if (with_snapshot) REQUIRE(store.snapshot());
    REQUIRE(store.set_replica_marker("m1"));
    for (auto id : {"a", "b", "c"}) REQUIRE(store.upsert("c", {doc(id, 1)}));
  }
  auto wal = dir.path() + "/wal";
  auto offsets = record_offsets(wal);
  REQUIRE(offsets.size() >= 3);
  auto damaged_record = offsets[offsets.size() - 2]; // "b": "c" follows it, intact
  flip_byte(wal, damaged_record + 10);
  auto damaged_bytes = read_all(wal);

  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded()); // it serves, empty, ...
  CHECK(store.probe());
  // ... without its marker, so the coordinator rebuilds it from a peer.
  CHECK(*store.replica_marker() == "");
  CHECK(store.list_collections()->empty());
  // The error names the file, the byte and the reason.
  auto damage = store.damage();
  CHECK(damage.find(wal) != std::string::npos);
  CHECK(damage.find("at byte " + std::to_string(damaged_record) + " ") != std::string::npos);
  CHECK(damage.find("checksum mismatch") != std::string::npos);
  // The damaged log is kept, byte for byte, with the snapshot it continued.
  auto aside = damaged_dirs(dir.path());
  REQUIRE(aside.size() == 1);
  CHECK(damage.find(aside[0].string()) != std::string::npos);
  CHECK(read_all((aside[0] / "wal").string()) == damaged_bytes);
  bool snapshot_aside = false;
  for (auto& e : fs::directory_iterator(aside[0]))
    snapshot_aside |= e.path().filename().string().rfind("snapshot-", 0) == 0;
  CHECK(snapshot_aside == with_snapshot);
  // A fresh log: the rebuild's writes go in and survive a reopen.
  REQUIRE(store.create_collection({"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {doc("r", 5)}));
  REQUIRE(store.get("c", "r"));
}

TEST_CASE("vector store: after a damaged log was set aside, a reopen loads the new log",
          "[hnsw][durability][damage]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    for (auto id : {"a", "b", "c"}) REQUIRE(store.upsert("c", {doc(id, 1)}));
  }
  auto wal = dir.path() + "/wal";
  flip_byte(wal, record_offsets(wal)[1] + 10);
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE_FALSE(store.damage().empty());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.upsert("c", {doc("r", 5)}));
    REQUIRE(store.set_replica_marker("m2"));
  }
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  CHECK(store.damage().empty());
  CHECK(*store.replica_marker() == "m2");
  CHECK(store.get("c", "r"));
  CHECK(store.get("c", "a").error().kind == errc::not_found);
  CHECK(damaged_dirs(dir.path()).size() == 1);
}

TEST_CASE("vector store: a write is not visible before its log record is synced",
          "[hnsw][durability][fsync]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"c", 2, metric::l2}));
  sync_hook_guard clear;
  std::mutex m;
  std::condition_variable cv;
  bool held = false, release = false;
  auto wal = dir.path() + "/wal";
  io::test_hooks::set_sync_hook([&](const std::string& path) {
    if (path != wal) return 0;
    std::unique_lock guard{m};
    if (held) return 0; // hold the first sync only
    held = true;
    cv.notify_all();
    cv.wait_for(guard, 60s, [&] { return release; });
    return 0;
  });
  std::thread writer{[&] { CHECK(store.upsert("c", {doc("a", 1)})); }};
  {
    std::unique_lock guard{m};
    REQUIRE(cv.wait_for(guard, 60s, [&] { return held; }));
  }
  // The record is written, its sync is in flight: nobody may read it yet.
  CHECK(store.get("c", "a").error().kind == errc::not_found);
  CHECK(store.search({"c", {1, 1}, 1})->empty());
  CHECK(store.scan({"c", "", 10, false})->empty());
  {
    std::lock_guard guard{m};
    release = true;
  }
  cv.notify_all();
  writer.join();
  CHECK(store.get("c", "a")); // acknowledged: visible
}

TEST_CASE("vector store: a write whose sync fails is refused, never read, never in a snapshot",
          "[hnsw][durability][fsync]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {doc("a", 1)}));
  sync_hook_guard clear;
  auto wal = dir.path() + "/wal";
  io::test_hooks::set_sync_hook([&](const std::string& path) { return path == wal ? EIO : 0; });
  auto failed = store.upsert("c", {doc("b", 2)});
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message.find("syncing") != std::string::npos);
  CHECK_FALSE(store.remove("c", "a", 5)); // the log is poisoned: no more writes
  io::test_hooks::set_sync_hook({});
  CHECK(store.get("c", "b").error().kind == errc::not_found);
  CHECK(store.get("c", "a")); // the remove was refused as well
  auto hits = store.search({"c", {2, 2}, 5});
  REQUIRE(hits);
  for (auto& h : *hits) CHECK(h.id != "b");
  // The probe tells the coordinator to route around the store.
  auto probe = store.probe();
  REQUIRE_FALSE(probe);
  CHECK(probe.error().message.find("write-ahead log failed") != std::string::npos);
  // No snapshot of a state the log cannot vouch for.
  auto snap = store.snapshot();
  REQUIRE_FALSE(snap);
  CHECK(snap.error().message.find("no snapshot") != std::string::npos);
  for (auto& e : fs::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().rfind("snapshot", 0) != 0);
}

TEST_CASE("vector store: a failing snapshot backs off exponentially up to the cap",
          "[hnsw][snapshot][backoff]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  cfg.snapshot_log_bytes = 1; // every pass wants a snapshot
  cfg.snapshot_retry_initial = 1000ms;
  cfg.snapshot_retry_max = 8000ms;
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  REQUIRE(store.create_collection({"c", 2, metric::l2}));
  {
    // Poison the log: from now on every snapshot fails (no snapshot of a
    // log that cannot be synced), as on a full disk.
    sync_hook_guard clear;
    io::test_hooks::set_sync_hook([](const std::string&) { return ENOSPC; });
    REQUIRE_FALSE(store.upsert("c", {doc("a", 1)}));
  }
  auto t0 = std::chrono::steady_clock::time_point{} + 24h;
  auto attempts = [&] { return store.maintenance_status().snapshot_attempts; };
  // (time of the pass, attempts after it): tries at 0, 1, 3, 7, 15, 23, 31 s.
  std::vector<std::pair<std::chrono::milliseconds, uint64_t>> schedule = {
    {0ms, 1},     {999ms, 1},   {1000ms, 2},  {2999ms, 2},  {3000ms, 3},  {6999ms, 3},
    {7000ms, 4},  {14999ms, 4}, {15000ms, 5}, {22999ms, 5}, {23000ms, 6}, {31000ms, 7}};
  for (auto [at, expected_attempts] : schedule) {
    store.maintain(t0 + at);
    INFO("pass at " << at.count() << " ms");
    CHECK(attempts() == expected_attempts);
  }
  auto status = store.maintenance_status();
  CHECK(status.snapshot_failures == 7);
  CHECK(status.next_snapshot == t0 + 39000ms); // capped at 8 s
}
