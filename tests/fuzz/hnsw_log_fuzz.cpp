// Why: the vector store trusts nothing it reads back from disk. Its log
// records and snapshot manifests are decoded after a crash, from files a
// torn write, a full disk or a bad sector may have damaged; a decoder that
// crashes, over-reads or allocates without bound there turns a damaged file
// into a server that cannot start. This target feeds arbitrary bytes to the
// record and manifest decoders, to the write-ahead log's reader, and (with
// valid framing, so the bytes get past the CRC) to a whole store that
// replays the log, takes a snapshot and loads it again.
//
// Input: the first byte picks the mode (mod 5), the rest is the data:
//   0  decode_record(data)
//   1  decode_manifest(data + its CRC-32): reaches the parser behind the CRC
//   2  decode_manifest(data), as stored
//   3  data as the log file (as stored), replayed by write_ahead_log::open
//   4  data as chunks [u16 length][payload], framed with valid CRCs into a
//      log file (leftover bytes: a torn tail); a hnsw_backend replays it,
//      snapshots, and a second one loads that snapshot: same state.
#include "backends/hnsw/records.hpp"
#include "backends/hnsw/write_ahead_log.hpp"
#include "backends/hnsw_backend.hpp"
#include "fuzz/fuzz_support.hpp"
#include "io/checksum.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace lifeline;
using namespace lifeline::hnsw;
using lifeline::fuzz::fail;

namespace {

/// Re-encoding a decoded record gives back the bytes it came from.
void check_record(std::string_view payload, const record& rec) {
  std::string again;
  switch (rec.type) {
    case record_type::create: again = encode_create(rec.lsn, rec.spec); break;
    case record_type::drop: again = encode_drop(rec.lsn, rec.collection); break;
    case record_type::legacy_upsert:
    case record_type::upsert: again = encode_upsert(rec.lsn, rec.collection, rec.docs, {}); break;
    case record_type::legacy_remove:
      // The legacy remove has no version: compare without it.
      again = encode_remove(rec.lsn, rec.collection, rec.id, 0);
      again.resize(again.size() - 8);
      break;
    case record_type::remove:
      again = encode_remove(rec.lsn, rec.collection, rec.id, rec.version);
      break;
    case record_type::purge: again = encode_purge(rec.lsn, rec.up_to); break;
    default: fail("decode_record returned an unknown type");
  }
  again[8] = char(rec.type); // the encoders write the current types only
  if (payload.substr(0, again.size()) != again)
    fail("a decoded record does not encode back to its bytes");
  if (rec.type == record_type::create && uint8_t(rec.spec.metric) > 2)
    fail("a decoded create record has an unknown metric");
}

void check_manifest(const manifest& m) {
  auto again = decode_manifest(encode_manifest(m));
  if (!again) fail("an encoded manifest does not decode: " + again.error().message);
  if (again->lsn != m.lsn || again->collections.size() != m.collections.size())
    fail("a manifest does not survive encode + decode");
  for (size_t i = 0; i < m.collections.size(); ++i) {
    auto& a = m.collections[i];
    auto& b = again->collections[i];
    if (a.spec != b.spec || a.index_file != b.index_file || a.index_crc != b.index_crc
        || a.meta_file != b.meta_file || a.meta_crc != b.meta_crc)
      fail("a manifest entry does not survive encode + decode");
  }
}

expected<void> replay_one(std::string_view payload) {
  auto rec = decode_record(payload);
  if (rec) check_record(payload, *rec);
  else if (rec.error().kind != errc::corrupt_response) fail("decode_record failed with a non-corrupt kind");
  return {};
}

/// Everything a store holds, for comparing two stores.
std::string state_of(hnsw_backend& b) {
  std::string out;
  auto specs = b.list_collections();
  if (!specs) fail("list_collections failed on a loaded store: " + specs.error().message);
  std::sort(specs->begin(), specs->end(), [](auto& x, auto& y) { return x.name < y.name; });
  for (auto& s : *specs) {
    out += s.name + "/" + std::to_string(s.dimension) + "/" + std::to_string(int(s.metric)) + "\n";
    scan_request req{s.name, "", 10000, true};
    auto docs = b.scan(req);
    if (!docs) fail("scan failed on a loaded store: " + docs.error().message);
    for (auto& d : *docs) {
      out += d.id + " " + std::to_string(d.version) + " " + std::to_string(d.vector.size()) + "\n";
      if (d.vector.size() != s.dimension) fail("a stored vector has the wrong dimension");
    }
    if (s.dimension > 0) {
      auto hits = b.search(search_query{s.name, std::vector<float>(s.dimension, 0.5f), 5, 0});
      (void)hits; // any answer; no crash
    }
  }
  return out;
}

void replay_store(std::string_view chunks) {
  auto log_bytes = lifeline::fuzz::frame_chunks(chunks);
  auto dir = lifeline::fuzz::fresh_dir("store");
  lifeline::fuzz::write_bytes(dir + "/wal", log_bytes);
  hnsw_config cfg;
  cfg.directory = dir;
  cfg.log.mode = sync_mode::interval; // no fdatasync per record: fast enough to fuzz
  cfg.log.interval = std::chrono::milliseconds(1000);
  cfg.index.initial_capacity = 16;
  cfg.threads = 1;
  cfg.maintenance_interval = std::chrono::hours(1);
  std::string before;
  {
    hnsw_backend store{cfg};
    if (!store.wait_loaded()) return; // refused as corrupt: fine
    before = state_of(store);
    if (auto ok = store.snapshot(); !ok) fail("snapshot failed: " + ok.error().message);
  }
  hnsw_backend again{cfg};
  if (auto ok = again.wait_loaded(); !ok)
    fail("a store does not load its own snapshot: " + ok.error().message);
  if (state_of(again) != before) fail("a store reloaded from its snapshot differs");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log().set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in{reinterpret_cast<const char*>(data) + 1, size - 1};
  switch (data[0] % 5) {
    case 0: replay_one(in); break;
    case 1: {
      std::string file{in};
      uint32_t crc = io::crc32(file.data(), file.size());
      file.append(reinterpret_cast<const char*>(&crc), 4);
      if (auto m = decode_manifest(file)) check_manifest(*m);
      break;
    }
    case 2:
      if (auto m = decode_manifest(in)) check_manifest(*m);
      break;
    case 3: {
      auto dir = lifeline::fuzz::fresh_dir("wal");
      lifeline::fuzz::write_bytes(dir + "/wal", in);
      log_config cfg;
      cfg.mode = sync_mode::per_write;
      auto log = write_ahead_log::open(dir + "/wal", cfg, replay_one, [](const std::string&) {});
      if (log) {
        // The log accepts a new record after whatever it kept.
        auto ticket = (*log)->append(encode_purge(1, 1));
        if (!ticket) fail("append after open failed: " + ticket.error().message);
      }
      break;
    }
    case 4: replay_store(in); break;
  }
  return 0;
}
