// Append and replay throughput of the two record logs (issue 13): the
// vector store's write-ahead log and a backend's handoff log, each with the
// durability policy it runs with in the server, on records of a realistic
// size (one document of dimension 128, ~600 bytes).
//
// Only the logs' public interfaces are used, so the same program builds
// against the code before and after the logs moved onto io::record_log, and
// the ratio after/before is the two runs' numbers side by side
// (docs/BENCHMARKS.md, "Record log (issue 13)").
//
//   build/bin/lifeline-bench-log [--records N] [--synced N] [--writers T]
//                                [--repeat R] [--dir D]
//
// Rows (each the median of R runs):
//   wal append group      T writers, each appends and waits for its record
//                         (group commit: the store's default)
//   wal append interval   one writer, fdatasync every 50 ms in the background
//                         (no wait: the cost of framing and writing)
//   wal replay            open() of a log of N records, each fed to replay
//   handoff append 1      one entry per append, each synced (the coordinator
//                         appends a write's entry per missing backend)
//   handoff append 100    100 entries per append, one sync
//   handoff replay        open() and peek() of every entry in 8 MiB pages
//                         (what the replayer reads)
#include "backends/hnsw/write_ahead_log.hpp"
#include "replication/handoff_log.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace lifeline;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  size_t records = 100000; ///< For the rows that do not wait for a sync.
  size_t synced = 2000;    ///< For the rows that wait for one sync per append.
  size_t writers = 4;
  size_t repeat = 3;
  std::string dir;
};

document make_doc(size_t i, std::mt19937& rng) {
  std::normal_distribution<float> gauss;
  std::vector<float> v(128);
  for (auto& x : v) x = gauss(rng);
  return document{"doc-" + std::to_string(i), std::move(v),
                  "a short text of about fifty bytes, as content #" + std::to_string(i),
                  R"({"source":"bench"})", uint64_t(i + 1)};
}

/// A payload shaped like the store's upsert record of one document: about
/// 600 bytes, mostly float bits (so it does not compress or repeat).
std::string wal_payload(size_t i, std::mt19937& rng) {
  auto d = make_doc(i, rng);
  std::string p(9, '\x05');
  p += d.id;
  p.append(reinterpret_cast<const char*>(d.vector.data()), d.vector.size() * sizeof(float));
  p += d.content;
  p += d.metadata;
  return p;
}

handoff_entry handoff_upsert(size_t i, std::mt19937& rng) {
  handoff_entry e;
  e.op = handoff_entry::kind::upsert;
  e.collection = "bench";
  e.docs.push_back(make_doc(i, rng));
  return e;
}

struct result {
  double seconds = 0;
  size_t records = 0;
  size_t bytes = 0;
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "lifeline-bench-log: %s\n", what.c_str());
  std::exit(1);
}

template <class T>
T check(expected<T> r, const char* what) {
  if (!r) die(std::string{what} + ": " + r.error().message);
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

size_t file_bytes(const std::string& path) {
  std::error_code ec;
  auto n = fs::file_size(path, ec);
  return ec ? 0 : size_t(n);
}

double since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

hnsw::log_config wal_config(hnsw::sync_mode mode) {
  hnsw::log_config cfg;
  cfg.mode = mode;
  return cfg;
}

std::unique_ptr<hnsw::write_ahead_log> open_wal(const std::string& path, hnsw::sync_mode mode,
                                                size_t* replayed = nullptr) {
  return check(hnsw::write_ahead_log::open(
                 path, wal_config(mode),
                 [&](std::string_view) -> expected<void> {
                   if (replayed) ++*replayed;
                   return {};
                 },
                 [](const std::string& w) { die("unexpected warning: " + w); }),
               "opening the log");
}

result wal_append(const options& o, const std::string& dir, hnsw::sync_mode mode, size_t n,
                  size_t writers) {
  auto path = dir + "/wal";
  fs::remove(path);
  auto log = open_wal(path, mode);
  std::mt19937 rng{7};
  std::vector<std::string> payloads;
  for (size_t i = 0; i < n; ++i) payloads.push_back(wal_payload(i, rng));
  std::atomic<size_t> next{0};
  auto t0 = clock_type::now();
  std::vector<std::thread> threads;
  for (size_t w = 0; w < writers; ++w)
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) {
        auto ticket = check(log->append(payloads[i]), "appending");
        check(log->sync(ticket), "syncing");
      }
    });
  for (auto& t : threads) t.join();
  double s = since(t0);
  log.reset();
  (void)o;
  return {s, n, file_bytes(path)};
}

result wal_replay(const std::string& dir, size_t n) {
  auto path = dir + "/wal";
  fs::remove(path);
  {
    auto log = open_wal(path, hnsw::sync_mode::interval);
    std::mt19937 rng{7};
    for (size_t i = 0; i < n; ++i) check(log->append(wal_payload(i, rng)), "appending");
  }
  size_t replayed = 0;
  auto t0 = clock_type::now();
  auto log = open_wal(path, hnsw::sync_mode::group, &replayed);
  double s = since(t0);
  if (replayed != n) die("replayed " + std::to_string(replayed) + " of " + std::to_string(n));
  return {s, n, file_bytes(path)};
}

result handoff_append(const std::string& dir, size_t n, size_t per_append) {
  auto hints = dir + "/hints";
  fs::remove_all(hints);
  auto log = check(handoff_log::open(hints), "opening the handoff log");
  std::mt19937 rng{7};
  std::vector<std::vector<handoff_entry>> batches;
  for (size_t i = 0; i < n; i += per_append) {
    batches.emplace_back();
    for (size_t j = i; j < std::min(n, i + per_append); ++j)
      batches.back().push_back(handoff_upsert(j, rng));
  }
  auto t0 = clock_type::now();
  for (auto& b : batches) check(log->append(b), "appending");
  double s = since(t0);
  return {s, n, size_t(log->size_bytes())};
}

result handoff_replay(const std::string& dir, size_t n) {
  auto hints = dir + "/hints";
  handoff_append(dir, n, 1000);
  auto t0 = clock_type::now();
  auto log = check(handoff_log::open(hints), "opening the handoff log");
  uint64_t offset = 0;
  size_t read = 0;
  for (;;) {
    auto page = check(log->peek(100000, size_t{8} << 20), "peeking");
    if (page.entries.empty()) break;
    read += page.entries.size();
    offset = page.end_offset;
    check(log->consume(offset, page.entries.size()), "consuming");
  }
  double s = since(t0);
  if (read != n) die("read " + std::to_string(read) + " of " + std::to_string(n));
  return {s, n, size_t(offset)};
}

void report(const char* name, const options& o, const std::function<result()>& run) {
  std::vector<result> runs;
  for (size_t i = 0; i < o.repeat; ++i) runs.push_back(run());
  std::sort(runs.begin(), runs.end(),
            [](const result& a, const result& b) { return a.seconds < b.seconds; });
  auto& r = runs[runs.size() / 2];
  std::printf("%-22s %8zu records %8.3f s %12.0f records/s %9.1f MB/s\n", name, r.records,
              r.seconds, double(r.records) / r.seconds, double(r.bytes) / r.seconds / 1e6);
  std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    auto n = [&] { return size_t(std::strtoull(argv[i + 1], nullptr, 10)); };
    if (a == "--records") o.records = n();
    else if (a == "--synced") o.synced = n();
    else if (a == "--writers") o.writers = std::max<size_t>(1, n());
    else if (a == "--repeat") o.repeat = std::max<size_t>(1, n());
    else if (a == "--dir") o.dir = argv[i + 1];
    else die("unknown option " + a);
  }
  bool own_dir = o.dir.empty();
  if (own_dir) {
    std::string tmpl = (fs::temp_directory_path() / "lifeline-log-bench.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) die("cannot create a scratch directory");
    o.dir = tmpl;
  }
  fs::create_directories(o.dir);
  std::printf("records of ~600 bytes (a document of dimension 128); median of %zu runs in %s\n",
              o.repeat, o.dir.c_str());
  auto wal_group = "wal append group x" + std::to_string(o.writers);
  report(wal_group.c_str(), o,
         [&] { return wal_append(o, o.dir, hnsw::sync_mode::group, o.synced, o.writers); });
  report("wal append interval", o,
         [&] { return wal_append(o, o.dir, hnsw::sync_mode::interval, o.records, 1); });
  report("wal replay", o, [&] { return wal_replay(o.dir, o.records); });
  report("handoff append 1", o, [&] { return handoff_append(o.dir, o.synced, 1); });
  report("handoff append 100", o, [&] { return handoff_append(o.dir, o.records, 100); });
  report("handoff replay", o, [&] { return handoff_replay(o.dir, o.records); });
  if (own_dir) fs::remove_all(o.dir);
}
