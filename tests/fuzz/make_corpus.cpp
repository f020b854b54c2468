// Writes the fuzz targets' seed corpora (small valid inputs) with the real
// encoders, so the corpus follows the formats as they change:
//   build-asan/bin/lifeline-fuzz-corpus tests/fuzz/corpus
// One directory per target; see each target's comment for its input format.
#include "backends/hnsw/records.hpp"
#include "backends/hnsw/write_ahead_log.hpp"
#include "fuzz/fuzz_support.hpp"
#include "replication/handoff_log.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace lifeline;
using namespace lifeline::hnsw;
namespace fs = std::filesystem;

namespace {

std::string out_dir;
const std::string sep = "\xFF";

void put(const std::string& target, const std::string& name, std::string_view bytes) {
  fs::create_directories(out_dir + "/" + target);
  lifeline::fuzz::write_bytes(out_dir + "/" + target + "/" + name, bytes);
}

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string mode(uint8_t m) { return std::string(1, char(m)); }

/// The payloads of a framed log file ([u32 length][u32 CRC][payload]...).
std::vector<std::string> payloads(std::string_view file) {
  std::vector<std::string> out;
  while (file.size() >= 8) {
    uint32_t n;
    std::memcpy(&n, file.data(), 4);
    out.emplace_back(file.substr(8, n));
    file.remove_prefix(8 + n);
  }
  return out;
}

void hnsw_log() {
  const std::string t = "hnsw_log_fuzz";
  std::vector<document> docs{{"a", {1, 0, 0}, "A", R"({"tag":"x"})", 3},
                             {"b", {0, 1, 0}, "B", "", 4}};
  std::vector<std::pair<std::string, std::string>> records{
    {"create", encode_create(1, {"c", 3, metric::cosine})},
    {"create_l2", encode_create(2, {"d", 2, metric::l2})},
    {"upsert", encode_upsert(3, "c", docs, {})},
    {"upsert_d", encode_upsert(4, "d", {{"x", {0.5f, -1}, "", "", 1}}, {})},
    {"remove", encode_remove(5, "c", "a", 5)},
    {"purge", encode_purge(6, 5)},
    {"drop", encode_drop(7, "d")},
  };
  // Mode 0: one record.
  for (auto& [name, bytes] : records) put(t, "record_" + name, mode(0) + bytes);
  // Modes 1 and 2: a manifest without and with its CRC.
  manifest m;
  m.lsn = 7;
  m.collections.push_back({{"c", 3, metric::cosine}, "c0.hnsw", 0x12345678, "c0.meta", 0x9abcdef0});
  m.collections.push_back({{"d", 2, metric::ip}, "c1.hnsw", 1, "c1.meta", 2});
  auto file = encode_manifest(m);
  put(t, "manifest_crc_fixed", mode(1) + file.substr(0, file.size() - 4));
  put(t, "manifest", mode(2) + file);
  // Mode 3: a log file written by the log itself.
  auto dir = lifeline::fuzz::fresh_dir("corpus-wal");
  {
    auto log = write_ahead_log::open(dir + "/wal", {}, [](std::string_view) -> expected<void> {
      return {};
    }, [](const std::string&) {});
    if (!log) throw std::runtime_error{log.error().message};
    for (auto& [name, bytes] : records) (void)(*log)->append(bytes);
  }
  auto wal = slurp(dir + "/wal");
  put(t, "wal", mode(3) + wal);
  put(t, "wal_torn", mode(3) + wal.substr(0, wal.size() - 3));
  // Mode 4: the same records as chunks, replayed by a whole store.
  std::string chunks;
  for (auto& p : payloads(wal)) chunks += lifeline::fuzz::chunk(p);
  put(t, "store", mode(4) + chunks);
  put(t, "store_torn", mode(4) + chunks + "\x10\x00torn");
}

void handoff() {
  const std::string t = "handoff_log_fuzz";
  std::vector<handoff_entry> entries(4);
  entries[0].op = handoff_entry::kind::create;
  entries[0].collection = "c";
  entries[0].spec = {"c", 3, metric::l2};
  entries[1].op = handoff_entry::kind::upsert;
  entries[1].collection = "c";
  entries[1].docs = {{"a", {1, 0, 0}, "A", R"({"tag":"x"})", 7}, {"b", {0, 1, 0}, "", "", 8}};
  entries[2].op = handoff_entry::kind::remove;
  entries[2].collection = "c";
  entries[2].id = "a";
  entries[2].version = 9;
  entries[3].op = handoff_entry::kind::drop;
  entries[3].collection = "c";
  auto dir = lifeline::fuzz::fresh_dir("corpus-handoff");
  {
    auto log = handoff_log::open(dir);
    if (!log) throw std::runtime_error{log.error().message};
    if (auto ok = (*log)->append(entries); !ok) throw std::runtime_error{ok.error().message};
  }
  auto hints = slurp(dir + "/hints-0.log");
  put(t, "raw", mode(0) + sep + sep + hints);
  put(t, "raw_cursor", mode(0) + sep + "0 0" + sep + hints);
  auto p = payloads(hints);
  uint64_t second = 8 + p[0].size();
  put(t, "raw_cursor_mid", mode(0) + sep + "0 " + std::to_string(second) + sep + hints);
  put(t, "raw_torn", mode(0) + sep + sep + hints.substr(0, hints.size() - 2));
  std::string chunks;
  for (auto& x : p) chunks += lifeline::fuzz::chunk(x);
  put(t, "framed", mode(1) + sep + sep + chunks);
  put(t, "framed_cursor", mode(1) + sep + "0 0" + sep + chunks);
}

void http() {
  const std::string t = "http_api_fuzz";
  auto req = [&](const std::string& name, const std::string& method, const std::string& target,
                 const std::string& body, const std::string& auth = "Bearer fuzz-token") {
    put(t, name, method + sep + target + sep + body + sep + auth);
  };
  req("health", "GET", "/v1/health", "", "");
  req("health_auth", "GET", "/v1/health", "");
  req("metrics", "GET", "/metrics", "", "");
  req("collections", "GET", "/v1/collections", "");
  req("collection", "GET", "/v1/collections/c", "");
  req("create", "PUT", "/v1/collections/new", R"({"dimension":3,"metric":"l2"})");
  req("drop", "DELETE", "/v1/collections/new", "");
  req("put_doc", "PUT", "/v1/collections/c/documents/d",
      R"({"vector":[0.5,0.25,1e3],"content":"D","metadata":{"k":[1,2,{"x":null}]}})");
  req("get_doc", "GET", "/v1/collections/c_cos/documents/a", "");
  req("get_doc_pct", "GET", "/v1/collections/c/documents/a%20b?x=1", "");
  req("delete_doc", "DELETE", "/v1/collections/c_ip/documents/b", "");
  req("batch", "POST", "/v1/collections/c/documents",
      R"({"documents":[{"id":"x","vector":[1,2,3]},{"id":"y","vector":[0,0,1],"content":"Y"}]})");
  req("search", "POST", "/v1/collections/c/search", R"({"vector":[1,0.1,0],"k":2})");
  req("search_ef", "POST", "/v1/collections/c_cos/search", R"({"vector":[1,0.1,0],"k":5,"ef":50})");
  req("check", "GET", "/v1/admin/check", "", "Bearer fuzz-admin");
  req("stop", "POST", "/v1/admin/backends/replica/stop", "", "Bearer fuzz-admin");
  req("start", "POST", "/v1/admin/backends/replica/start", "", "Bearer fuzz-admin");
  req("restart", "POST", "/v1/admin/backends/primary/restart", "", "Bearer fuzz-admin");
  req("no_token", "GET", "/v1/collections/c/documents/a", "", "");
  req("bad_json", "PUT", "/v1/collections/c/documents/e", R"({"vector":[1,2,)");
}

void parser() {
  const std::string t = "request_parser_fuzz";
  int i = 0;
  for (std::string s :
       {"/v1/health", "/metrics", "/v1/collections", "/v1/collections/c",
        "/v1/collections/c/documents", "/v1/collections/c/documents/a%2Fb?q=1",
        "/v1/collections/c/search", "/v1/admin/check", "/v1/admin/backends/postgres/stop",
        "/v1/admin/backends/vectors/restart", R"({"dimension":3,"metric":"cosine"})",
        R"({"vector":[1,-2.5e-3,3e10],"content":"x\u00e9\ud83d\ude00","metadata":{"a":{"b":[true,null]}}})",
        R"({"documents":[{"id":"a","vector":[1,2]},{"id":"b","vector":[0],"metadata":{}}]})",
        R"({"vector":[0.1,0.2],"k":10,"ef":64})", "GET", "PATCH"})
    put(t, "seed_" + std::to_string(i++), s);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: lifeline-fuzz-corpus OUTPUT_DIR\n";
    return 2;
  }
  out_dir = argv[1];
  hnsw_log();
  handoff();
  http();
  parser();
  std::cout << "seed corpora written to " << out_dir << "\n";
  return 0;
}
