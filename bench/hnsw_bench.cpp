// Vector store benchmarks at 100k clustered vectors (dimension 128 by
// default), each as a ratio against raw hnswlib measured in the same run on
// an identical index (same data, order, M, ef_construction and seed):
//  - build throughput (the store also writes its log);
//  - search QPS and recall@10 at the same ef and thread count, through the
//    store directly and through the backend actor;
//  - memory per vector.
//
//   build/bin/lifeline-bench-hnsw [--vectors N] [--dim D] [--threads T] [--ef EF]
#include "actors/backend_actor.hpp"
#include "actors/runtime.hpp"
#include "backends/hnsw_backend.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

using namespace lifeline;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t) {
  return std::chrono::duration<double>(clock_type::now() - t).count();
}

size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return size_t(resident) * size_t(sysconf(_SC_PAGESIZE));
}

/// Clustered vectors with a low intrinsic dimension, like real embeddings:
/// 100 centres, and around each a 16-dimensional gaussian mapped into the
/// full dimension by one fixed random matrix (seed 1), plus a little noise.
std::vector<std::vector<float>> clustered(size_t n, size_t dim, uint32_t seed) {
  constexpr size_t intrinsic = 16;
  std::mt19937 fixed{1};
  std::normal_distribution<float> gauss;
  std::vector<std::vector<float>> centres(100, std::vector<float>(dim));
  for (auto& c : centres)
    for (auto& x : c) x = gauss(fixed) * 4;
  std::vector<float> basis(dim * intrinsic);
  for (auto& x : basis) x = gauss(fixed) / std::sqrt(float(intrinsic));
  std::mt19937 rng{seed};
  std::vector<std::vector<float>> out(n, std::vector<float>(dim));
  std::vector<float> z(intrinsic);
  for (auto& v : out) {
    auto& c = centres[rng() % centres.size()];
    for (auto& x : z) x = gauss(rng);
    for (size_t i = 0; i < dim; ++i) {
      float s = 0;
      for (size_t k = 0; k < intrinsic; ++k) s += basis[i * intrinsic + k] * z[k];
      v[i] = c[i] + s + 0.05f * gauss(rng);
    }
  }
  return out;
}

/// Exact top-10 ids by brute force (the ground truth for recall).
std::vector<std::vector<size_t>> ground_truth(const std::vector<std::vector<float>>& data,
                                              const std::vector<std::vector<float>>& queries) {
  std::vector<std::vector<size_t>> out(queries.size());
  auto work = [&](size_t from, size_t step) {
    for (size_t q = from; q < queries.size(); q += step) {
      std::vector<std::pair<float, size_t>> d(data.size());
      for (size_t i = 0; i < data.size(); ++i) {
        float s = 0;
        for (size_t k = 0; k < data[i].size(); ++k) {
          float x = data[i][k] - queries[q][k];
          s += x * x;
        }
        d[i] = {s, i};
      }
      std::partial_sort(d.begin(), d.begin() + 10, d.end());
      for (int k = 0; k < 10; ++k) out[q].push_back(d[size_t(k)].second);
    }
  };
  std::thread a{work, 0, 2}, b{work, 1, 2};
  a.join();
  b.join();
  return out;
}

/// Runs `search(query_index)` from `threads` threads for about `secs`.
template <class Search>
double qps(size_t threads, size_t nqueries, double secs, Search search) {
  std::atomic<uint64_t> done{0};
  auto start = clock_type::now();
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      uint64_t n = 0;
      for (size_t q = t; seconds_since(start) < secs; q = (q + threads) % nqueries, ++n) search(q);
      done += n;
    });
  for (auto& th : pool) th.join();
  return double(done) / seconds_since(start);
}

template <class Results>
double recall(const Results& results, const std::vector<std::vector<size_t>>& truth) {
  size_t hit = 0, total = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::set<size_t> got(results[q].begin(), results[q].end());
    for (auto id : truth[q]) hit += got.count(id);
    total += truth[q].size();
  }
  return double(hit) / double(total);
}

struct loop_state {
  uint64_t done = 0;
};

/// Closed loop through the backend actor, `inflight` searches outstanding.
double actor_qps(caf::actor_system& sys, backend_actor actor,
                 const std::vector<std::vector<float>>& queries, uint32_t ef, int inflight,
                 double secs) {
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  sys.spawn([=, &queries](caf::stateful_actor<loop_state>* d, caf::actor report) {
    auto outstanding = std::make_shared<int>(0);
    auto issue = std::make_shared<std::function<void()>>();
    *issue = [=, &queries] {
      if (seconds_since(start) >= secs) {
        if (*outstanding == 0) {
          d->send(report, d->state.done);
          d->quit();
        }
        return;
      }
      ++*outstanding;
      auto& q = queries[d->state.done % queries.size()];
      d->request(actor, caf::infinite, search_atom::value, search_query{"bench", q, 10, ef})
        .then([=](const std::vector<search_hit>&) { --*outstanding; ++d->state.done; (*issue)(); },
              [=](const caf::error&) { --*outstanding; (*issue)(); });
    };
    for (int i = 0; i < inflight; ++i) (*issue)();
    return caf::behavior{[](caf::unit_t) {}};
  }, caf::actor{self});
  uint64_t done = 0;
  self->receive([&](uint64_t n) { done = n; });
  return double(done) / seconds_since(start);
}

} // namespace

int main(int argc, char** argv) {
  size_t n = 100000, dim = 128, threads = 2;
  uint32_t ef = 64;
  double secs = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--vectors")) n = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dim")) dim = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--ef")) ef = uint32_t(std::stoul(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--seconds")) secs = std::stod(argv[i + 1]);
  }
  const size_t M = 16, ef_construction = 200;
  std::printf("vector store vs raw hnswlib: %zu clustered vectors, dimension %zu, M=%zu, "
              "ef_construction=%zu, ef=%u, %zu threads\n",
              n, dim, M, ef_construction, ef, threads);
  auto data = clustered(n, dim, 1);
  auto queries = clustered(1000, dim, 2);
  auto truth = ground_truth(data, std::vector<std::vector<float>>(queries.begin(), queries.begin() + 200));

  // -- raw hnswlib ----------------------------------------------------------------
  auto rss0 = rss_bytes();
  auto t0 = clock_type::now();
  hnsw::raw_index raw{metric::l2, uint32_t(dim), n, M, ef_construction};
  for (size_t i = 0; i < n; ++i) raw.add(data[i].data(), i);
  double raw_build = double(n) / seconds_since(t0);
  auto raw_rss = rss_bytes() - rss0;
  raw.set_ef(ef);

  // -- the store (same data, same order, same parameters) ---------------------------
  auto dir = std::filesystem::temp_directory_path() / ("lifeline-bench-hnsw-" + std::to_string(getpid()));
  hnsw_config cfg;
  cfg.directory = dir.string();
  cfg.index.M = M;
  cfg.index.ef_construction = ef_construction;
  cfg.index.default_ef = ef;
  cfg.index.initial_capacity = n; // as the raw index: no resize in the timing
  cfg.threads = uint32_t(threads);
  cfg.snapshot_log_bytes = uint64_t(1) << 40; // no snapshot during the timing
  auto store = std::make_shared<hnsw_backend>(cfg);
  if (!store->wait_loaded()) return 1;
  store->create_collection({"bench", uint32_t(dim), metric::l2});
  auto rss1 = rss_bytes();
  auto t1 = clock_type::now();
  for (size_t start = 0; start < n; start += 1000) {
    std::vector<document> batch;
    for (size_t i = start; i < std::min(n, start + 1000); ++i)
      batch.push_back({std::to_string(i), data[i], "", "", 0});
    if (!store->upsert("bench", batch)) return 1;
  }
  double store_build = double(n) / seconds_since(t1);
  auto store_rss = rss_bytes() - rss1;

  // -- recall on the same 200 queries ----------------------------------------------------
  std::vector<std::vector<size_t>> raw_results(200), store_results(200);
  for (size_t q = 0; q < 200; ++q) {
    for (auto label : raw.search(queries[q].data(), 10)) raw_results[q].push_back(label);
    auto s = store->search({"bench", queries[q], 10, ef});
    for (auto& h : *s) store_results[q].push_back(std::stoul(h.id));
  }

  // -- throughput ------------------------------------------------------------------------------
  double raw_qps = qps(threads, queries.size(), secs, [&](size_t q) { raw.search(queries[q].data(), 10); });
  double store_qps = qps(threads, queries.size(), secs, [&](size_t q) {
    store->search({"bench", queries[q], 10, ef});
  });
  double actor_qps_v = 0, actor_qps_tuned = 0;
  {
    caf::actor_system_config sys_cfg;
    caf::actor_system sys{sys_cfg};
    auto actor = spawn_backend_actor(sys, store);
    actor_qps_v = actor_qps(sys, actor, queries, ef, int(threads * 4), secs);
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }
  {
    caf::actor_system_config sys_cfg;
    tune_scheduler(sys_cfg);
    caf::actor_system sys{sys_cfg};
    auto actor = spawn_backend_actor(sys, store);
    actor_qps_tuned = actor_qps(sys, actor, queries, ef, int(threads * 4), secs);
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  }

  std::printf("\n%-44s %14s %8s\n", "", "value", "ratio");
  std::printf("%-44s %14.0f %8.2f\n", "build, raw hnswlib (vectors/s)", raw_build, 1.0);
  std::printf("%-44s %14.0f %8.2f\n", "build, store with its log (vectors/s)", store_build,
              store_build / raw_build);
  std::printf("%-44s %14.0f %8.2f\n", "search QPS, raw hnswlib", raw_qps, 1.0);
  std::printf("%-44s %14.0f %8.2f\n", "search QPS, store (direct calls)", store_qps, store_qps / raw_qps);
  std::printf("%-44s %14.0f %8.2f\n", "search QPS, through the backend actor", actor_qps_v,
              actor_qps_v / raw_qps);
  std::printf("%-44s %14.0f %8.2f\n", "  the same with tune_scheduler()", actor_qps_tuned,
              actor_qps_tuned / raw_qps);
  std::printf("%-44s %14.4f\n", "recall@10, raw hnswlib", recall(raw_results, truth));
  std::printf("%-44s %14.4f\n", "recall@10, store", recall(store_results, truth));
  std::printf("%-44s %14.0f %8.2f\n", "memory per vector, raw (RSS bytes)", double(raw_rss) / double(n), 1.0);
  std::printf("%-44s %14.0f %8.2f\n", "memory per vector, store (RSS bytes)", double(store_rss) / double(n),
              double(store_rss) / double(raw_rss));
  store.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
