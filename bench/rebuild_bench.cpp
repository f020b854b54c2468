// A rebuild of the vector store at scale (docs/BENCHMARKS.md, "Rebuild of
// the vector store"), through the real path: a coordinator in this process
// over two backends, an in-memory source filled beforehand (first in
// priority order, so on this first start it is the reference copy) and an
// empty hnsw store, which the coordinator rebuilds from it with a recovery
// job (actors/recovery.cpp: scan pages of the source, upserts into the
// target). Measured:
//  - the rebuild: from the runtime's start until the target is in sync;
//  - search latency on the target store (hnsw_backend::search, k 10, its
//    default ef) from one thread while the rebuild runs: what the index's
//    lock and the snapshots taken meanwhile cost a reader;
//  - scan paging over the rebuilt store, pages of --page ids by id order
//    until the end (hnsw_backend::scan, ids and versions), against the same
//    pages cut by the algorithm the store used before (one pass over an
//    unordered_map of every id per page, then nth_element; collection::scan
//    at b047498, replicated here over the same ids): the quadratic fix as a
//    ratio in the same run.
//
//   build/bin/lifeline-bench-rebuild [--vectors N] [--dim D] [--page P] [--dir DIR]
#include "actors/runtime.hpp"
#include "backends/hnsw_backend.hpp"
#include "backends/memory_backend.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

using namespace lifeline;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

std::string id_of(size_t i) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "doc-%08zu", i);
  return buf;
}

/// Gaussian clusters (100 centres), enough structure for a realistic graph.
std::vector<float> vector_of(std::mt19937& rng, const std::vector<std::vector<float>>& centres) {
  std::normal_distribution<float> gauss;
  auto& c = centres[rng() % centres.size()];
  std::vector<float> v(c.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = c[i] + gauss(rng);
  return v;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

/// The store's scan before this change, cut for cut: per page, one pass
/// over every id of an unordered_map, then the smallest `limit` of them.
struct legacy_entry {
  uint64_t label;
  std::string content, metadata;
  uint64_t version;
};
size_t legacy_scan_page(const std::unordered_map<std::string, legacy_entry>& docs,
                        const std::string& after, uint32_t limit, std::string& last) {
  std::vector<const std::pair<const std::string, legacy_entry>*> page;
  for (auto& kv : docs)
    if (kv.first > after) page.push_back(&kv);
  auto by_id = [](auto* a, auto* b) { return a->first < b->first; };
  if (page.size() > limit) {
    std::nth_element(page.begin(), page.begin() + limit, page.end(), by_id);
    page.resize(limit);
  }
  std::sort(page.begin(), page.end(), by_id);
  std::vector<document> out;
  out.reserve(page.size());
  for (auto* kv : page) out.push_back(document{kv->first, {}, {}, {}, kv->second.version});
  if (!out.empty()) last = out.back().id;
  return out.size();
}

} // namespace

int main(int argc, char** argv) {
  size_t vectors = 1000000;
  uint32_t dim = 128;
  uint32_t page = 1000;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--vectors")) vectors = std::stoull(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dim")) dim = uint32_t(std::stoul(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--page")) page = uint32_t(std::stoul(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
  }
  if (dir.empty()) dir = (std::filesystem::temp_directory_path() / "lifeline-bench-rebuild").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);

  // The source: an in-memory store holding every document (version 1).
  auto t = clock_type::now();
  auto source = std::make_shared<memory_backend>(2);
  if (!source->create_collection({"c", dim, metric::l2})) return 1;
  std::mt19937 rng{7};
  std::normal_distribution<float> gauss;
  std::vector<std::vector<float>> centres(100, std::vector<float>(dim));
  for (auto& c : centres)
    for (auto& x : c) x = gauss(rng) * 4;
  for (size_t from = 0; from < vectors; from += 10000) {
    std::vector<document> batch;
    for (size_t i = from; i < std::min(vectors, from + 10000); ++i)
      batch.push_back(document{id_of(i), vector_of(rng, centres), "", "{}", 1});
    if (!source->upsert("c", batch)) return 1;
  }
  std::printf("source: %zu vectors of dimension %u in memory (%.1f s to generate)\n", vectors,
              dim, seconds_since(t));
  std::vector<std::vector<float>> queries;
  for (int q = 0; q < 200; ++q) queries.push_back(vector_of(rng, centres));

  // The target: an empty vector store with the server's defaults.
  hnsw_config hc;
  hc.directory = dir + "/target";
  auto target = std::make_shared<hnsw_backend>(hc);
  if (!target->wait_loaded()) return 1;

  caf::actor_system_config cfg;
  tune_scheduler(cfg);
  caf::actor_system sys{cfg};
  runtime_config rc;
  rc.coordinator.handoff_dir = dir + "/handoff";
  rc.coordinator.recovery_call_timeout = 120s;
  rc.backends.push_back({"source", shared_instance(source), {2, true}, {}, {}});
  rc.backends.push_back({"target", shared_instance(target), {2, true}, {}, {}});

  // Searches on the target while it is rebuilt.
  std::atomic<bool> rebuilding{true};
  std::vector<double> latencies_ms;
  size_t empty_answers = 0;
  std::thread searcher{[&] {
    size_t q = 0;
    while (rebuilding) {
      auto s = clock_type::now();
      auto hits = target->search({"c", queries[q++ % queries.size()], 10, 0});
      latencies_ms.push_back(seconds_since(s) * 1000);
      if (!hits || hits->empty()) {
        ++empty_answers; // the collection is not there yet, or still empty
        std::this_thread::sleep_for(1ms); // not a measurement: do not spin
      }
    }
  }};

  auto start = clock_type::now();
  auto rt = spawn_runtime(sys, rc);
  caf::scoped_actor self{sys};
  bool in_sync = false;
  double last_report = 0;
  while (!in_sync) {
    std::this_thread::sleep_for(200ms); // polling a long job's state, not synchronising
    self->request(rt.coordinator, 10s, health_atom::value)
      .receive(
        [&](const health_report& h) {
          for (auto& b : h.backends)
            if (b.name == "target" && b.replica == replica_state::in_sync) in_sync = true;
        },
        [&](const caf::error&) {});
    if (seconds_since(start) - last_report > 30) {
      last_report = seconds_since(start);
      auto stats = target->collection_stats("c");
      std::printf("  %.0f s: target holds %llu documents\n", last_report,
                  stats ? (unsigned long long) stats->count : 0ull);
      std::fflush(stdout);
    }
  }
  double rebuild_s = seconds_since(start);
  rebuilding = false;
  searcher.join();
  auto count = target->collection_stats("c");
  std::printf("rebuild: %zu vectors copied source -> target in %.1f s (%.0f vectors/s); target "
              "holds %llu\n",
              vectors, rebuild_s, double(vectors) / rebuild_s,
              count ? (unsigned long long) count->count : 0ull);
  std::printf("search on the target while it was rebuilt: %zu searches (%zu found nothing yet), "
              "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
              latencies_ms.size(), empty_answers, percentile(latencies_ms, 0.5),
              percentile(latencies_ms, 0.99), percentile(latencies_ms, 0.999),
              percentile(latencies_ms, 1.0));
  rt.stop();

  // Scan paging over the rebuilt store: pages of `page` ids until the end.
  t = clock_type::now();
  std::string after;
  size_t seen = 0, pages = 0;
  for (;;) {
    auto p = target->scan({"c", after, page, false});
    if (!p || p->empty()) break;
    seen += p->size();
    ++pages;
    after = p->back().id;
  }
  double new_s = seconds_since(t);
  std::unordered_map<std::string, legacy_entry> legacy;
  legacy.reserve(vectors);
  for (size_t i = 0; i < vectors; ++i) legacy.emplace(id_of(i), legacy_entry{i, "", "{}", 1});
  t = clock_type::now();
  after.clear();
  size_t legacy_seen = 0;
  for (;;) {
    std::string last;
    auto n = legacy_scan_page(legacy, after, page, last);
    if (n == 0) break;
    legacy_seen += n;
    after = last;
  }
  double old_s = seconds_since(t);
  std::printf("scan paging, %zu pages of %u over %zu ids: before (a pass over every id per "
              "page) %.2f s, after (ordered index) %.3f s: %.0fx faster\n",
              pages, page, seen, old_s, new_s, old_s / new_s);
  if (legacy_seen != seen) std::printf("  (the two scans saw %zu and %zu ids!)\n", legacy_seen, seen);
  target.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
