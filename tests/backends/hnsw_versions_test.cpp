// The vector store's versioned writes across reopens: purges, versions,
// tombstones and the replica marker survive the log and snapshots, and old
// log and snapshot formats still load. The rules themselves (last writer
// wins, tombstones, scans, purges, the marker) are the backend contract's
// (contract/*_cases.cpp), run against this store by contract_hnsw_test.cpp.
#include "backends/hnsw/records.hpp"
#include "backends/hnsw_backend.hpp"
#include "io/binary_io.hpp"
#include "io/checksum.hpp"
#include "io/files.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

hnsw_config config_for(const std::string& dir) {
  hnsw_config cfg;
  cfg.directory = dir;
  cfg.index.initial_capacity = 16;
  cfg.maintenance_interval = std::chrono::hours(1); // tests call maintenance themselves
  return cfg;
}

document vdoc(const std::string& id, uint64_t version, float x = 0) {
  return document{id, {x, x}, id + " at " + std::to_string(version),
                  R"({"v":)" + std::to_string(version) + "}", version};
}

/// The version of the live document, 0 if there is none.
uint64_t live_version(hnsw_backend& store, const std::string& id) {
  auto d = store.get("c", id);
  return d ? d->version : 0;
}

bool removed(const expected<bool>& r) { return r && *r; }
bool kept_tombstone_only(const expected<bool>& r) { return r && !*r; }

} // namespace

TEST_CASE("vector store: purging tombstones lets older writes in again, durably",
          "[hnsw][versions][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.create_collection({"d", 2, metric::l2}));
    REQUIRE(store.upsert("c", {vdoc("a", 1), vdoc("b", 1)}));
    REQUIRE(removed(store.remove("c", "a", 3)));
    REQUIRE(kept_tombstone_only(store.remove("c", "x", 5)));
    REQUIRE(removed(store.remove("c", "b", 9)));
    REQUIRE(kept_tombstone_only(store.remove("d", "y", 4)));
    auto purged = store.purge_tombstones(5);
    REQUIRE(purged);
    CHECK(*purged == 3); // a@3, x@5 and y@4 in d; b@9 stays
    CHECK(*store.purge_tombstones(5) == 0);
    CHECK(store.collection_stats("c")->count == 0);
    SECTION("through the log") {}
    SECTION("through a snapshot") { REQUIRE(store.snapshot()); }
  }
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  // Purged tombstones stay purged: older writes than they held now apply...
  REQUIRE(store.upsert("c", {vdoc("a", 2), vdoc("x", 1)}));
  REQUIRE(store.upsert("d", {vdoc("y", 1)}));
  CHECK(live_version(store, "a") == 2);
  CHECK(live_version(store, "x") == 1);
  CHECK(store.get("d", "y"));
  // ...while the newer one still blocks.
  REQUIRE(store.upsert("c", {vdoc("b", 8)}));
  CHECK(store.get("c", "b").error().kind == errc::not_found);
  CHECK(*store.purge_tombstones(100) == 1);
}

TEST_CASE("vector store: versions and tombstones survive a reopen", "[hnsw][versions][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    bool snapshot_first = false, snapshot_last = false;
    SECTION("log replay only") {}
    SECTION("snapshot, then the log") { snapshot_first = true; }
    SECTION("everything in a snapshot") { snapshot_last = true; }
    REQUIRE(store.upsert("c", {vdoc("a", 5), vdoc("b", 5), vdoc("c", 2), vdoc("c", 1)}));
    if (snapshot_first) REQUIRE(store.snapshot());
    REQUIRE(store.upsert("c", {vdoc("a", 3, 9)}));        // skipped
    REQUIRE(removed(store.remove("c", "b", 6)));          // tombstone b@6
    REQUIRE(kept_tombstone_only(store.remove("c", "m", 7))); // tombstone m@7, never lived
    REQUIRE(store.upsert("c", {vdoc("r", 1)}));
    REQUIRE(removed(store.remove("c", "r", 2)));
    REQUIRE(store.upsert("c", {vdoc("r", 4, 1)}));        // resurrected
    if (snapshot_last) REQUIRE(store.snapshot());
  }
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  CHECK(*store.get("c", "a") == vdoc("a", 5));
  CHECK(*store.get("c", "c") == vdoc("c", 2));
  CHECK(*store.get("c", "r") == vdoc("r", 4, 1));
  CHECK(store.get("c", "b").error().kind == errc::not_found);
  CHECK(store.collection_stats("c")->count == 3);
  // The stored versions still decide.
  REQUIRE(store.upsert("c", {vdoc("a", 4), vdoc("b", 6), vdoc("m", 6), vdoc("r", 3)}));
  CHECK(live_version(store, "a") == 5);
  CHECK(store.get("c", "b")); // b@6 ties with its tombstone: the upsert wins
  CHECK(store.get("c", "m").error().kind == errc::not_found);
  CHECK(live_version(store, "r") == 4);
  CHECK(kept_tombstone_only(store.remove("c", "a", 4)));
  // And once more through a snapshot taken by this instance.
  REQUIRE(store.snapshot());
  CHECK(*store.purge_tombstones(1000) == 1); // m@7 (b's tombstone went with its upsert)
}

TEST_CASE("vector store: the replica marker is durable and lives with the data",
          "[hnsw][versions][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path() + "/store");
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    CHECK(*store.replica_marker() == "");
    REQUIRE(store.set_replica_marker("replica-1 epoch 7"));
    CHECK(*store.replica_marker() == "replica-1 epoch 7");
    REQUIRE(store.set_replica_marker("replica-1 epoch 8"));
    CHECK(*store.replica_marker() == "replica-1 epoch 8");
  }
  CHECK_FALSE(std::filesystem::exists(cfg.directory + "/replica-marker.tmp"));
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    CHECK(*store.replica_marker() == "replica-1 epoch 8");
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.snapshot()); // snapshots leave it alone
    CHECK(*store.replica_marker() == "replica-1 epoch 8");
  }
  std::filesystem::remove_all(cfg.directory);
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  CHECK(*store.replica_marker() == "");
  CHECK(store.list_collections()->empty());
}

namespace {

/// A log record framed as write_ahead_log writes it.
std::string framed(const std::string& payload) {
  std::string out(8, '\0');
  uint32_t len = uint32_t(payload.size());
  uint32_t crc = io::crc32(payload.data(), payload.size());
  std::memcpy(out.data(), &len, 4);
  std::memcpy(out.data() + 4, &crc, 4);
  return out + payload;
}

} // namespace

TEST_CASE("vector store: a log from before versions replays as it was applied",
          "[hnsw][versions][durability]") {
  temp_dir dir;
  // create c; upsert a@7 and b@2 (type 3); remove a (type 4, no version).
  io::writer create, upsert, remove;
  create.u64(1);
  create.u8(1);
  create.str("c");
  create.u32(2);
  create.u8(0);
  upsert.u64(2);
  upsert.u8(3);
  upsert.str("c");
  upsert.u32(2);
  for (auto& d : {vdoc("a", 7), vdoc("b", 2)}) {
    upsert.str(d.id);
    upsert.floats(d.vector);
    upsert.str(d.content);
    upsert.str(d.metadata);
    upsert.u64(d.version);
  }
  remove.u64(3);
  remove.u8(4);
  remove.str("c");
  remove.str("a");
  REQUIRE(io::write_file_synced(dir.path() + "/wal", framed(create.bytes())
                                                         + framed(upsert.bytes())
                                                         + framed(remove.bytes())));
  hnsw_backend store{config_for(dir.path())};
  REQUIRE(store.wait_loaded());
  // The old remove deleted a whatever its version; its tombstone keeps 7.
  CHECK(store.get("c", "a").error().kind == errc::not_found);
  CHECK(*store.get("c", "b") == vdoc("b", 2));
  REQUIRE(store.upsert("c", {vdoc("a", 6)}));
  CHECK(store.get("c", "a").error().kind == errc::not_found);
  REQUIRE(store.upsert("c", {vdoc("a", 7)}));
  CHECK(store.get("c", "a"));
}

TEST_CASE("vector store: a snapshot from before tombstones still loads",
          "[hnsw][versions][durability]") {
  temp_dir dir;
  auto cfg = config_for(dir.path());
  {
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    REQUIRE(store.create_collection({"c", 2, metric::l2}));
    REQUIRE(store.upsert("c", {vdoc("a", 3), vdoc("b", 4)}));
    REQUIRE(store.snapshot());
  }
  // Rewrite it as FILLSNP1: meta files without the (empty) tombstone list.
  auto snaps = io::list_dir(dir.path(), "snapshot-");
  REQUIRE(snaps.size() == 1);
  auto snap = dir.path() + "/" + snaps[0];
  auto m = hnsw::decode_manifest(*io::read_file(snap + "/manifest"));
  REQUIRE(m);
  for (auto& e : m->collections) {
    auto meta = *io::read_file(snap + "/" + e.meta_file);
    REQUIRE(meta.substr(meta.size() - 8) == std::string(8, '\0'));
    meta.resize(meta.size() - 8);
    REQUIRE(io::write_file_synced(snap + "/" + e.meta_file, meta));
    e.meta_crc = io::crc32(meta.data(), meta.size());
  }
  auto manifest = hnsw::encode_manifest(*m);
  manifest.resize(manifest.size() - 4);
  REQUIRE(manifest[7] == '2');
  manifest[7] = '1';
  uint32_t crc = io::crc32(manifest.data(), manifest.size());
  manifest.append(reinterpret_cast<const char*>(&crc), 4);
  REQUIRE(io::write_file_synced(snap + "/manifest", manifest));
  auto old = hnsw::decode_manifest(manifest);
  REQUIRE(old);
  CHECK_FALSE(old->has_tombstones);

  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  CHECK(*store.get("c", "a") == vdoc("a", 3));
  CHECK(*store.get("c", "b") == vdoc("b", 4));
  REQUIRE(store.upsert("c", {vdoc("a", 2, 5)})); // its versions still decide
  CHECK(live_version(store, "a") == 3);
}
