#include "harness/baselines.hpp"

#include "backends/hnsw/collection.hpp"
#include "harness/ingest.hpp"
#include "harness/report.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

namespace lifeline::bench {

using clock_type = std::chrono::steady_clock;

namespace {

/// Runs `op` on `threads` threads for `seconds`; latencies of every call.
template <class MakeOp>
rate closed_loop(int threads, double seconds, MakeOp make_op) {
  std::vector<std::vector<float>> lat(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  auto cpu0 = process_cpu_seconds();
  auto busy0 = machine_busy_seconds();
  auto until = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                     std::chrono::duration<double>(seconds));
  std::atomic<bool> failed{false};
  std::string error;
  std::mutex m;
  for (int w = 0; w < threads; ++w)
    ts.emplace_back([&, w] {
      try {
        auto op = make_op(w);
        std::mt19937_64 rng{uint64_t(w) + 7};
        while (clock_type::now() < until) {
          auto t = clock_type::now();
          op(rng);
          lat[size_t(w)].push_back(
            float(std::chrono::duration<double, std::milli>(clock_type::now() - t).count()));
        }
      } catch (const std::exception& e) {
        std::lock_guard g{m};
        failed = true;
        error = e.what();
      }
    });
  for (auto& t : ts) t.join();
  rate r;
  if (failed) {
    r.note = error;
    return r;
  }
  std::vector<float> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  r.per_second = double(all.size()) / seconds;
  r.p99_ms = percentile(all, 0.99);
  char note[80];
  std::snprintf(note, sizeof note, "this process %.2f cores, machine %.2f ",
                (process_cpu_seconds() - cpu0) / seconds, (machine_busy_seconds() - busy0) / seconds);
  r.note = note;
  return r;
}

std::string password() {
  if (const char* f = std::getenv("LIFELINE_PG_PASSWORD_FILE")) {
    FILE* in = std::fopen(f, "r");
    char buf[256] = {};
    if (in && std::fgets(buf, sizeof buf, in)) buf[std::strcspn(buf, "\r\n")] = 0;
    if (in) std::fclose(in);
    return buf;
  }
  if (const char* p = std::getenv("LIFELINE_PG_PASSWORD")) return p;
  return {};
}

} // namespace

std::string postgres_password() { return password(); }

rate raw_libpqxx_get(const std::string& conninfo, const std::string& collection, size_t docs,
                     int threads, double seconds) {
  auto full = conninfo + " password='" + password() + "'";
  return closed_loop(threads, seconds, [&](int) {
    auto c = std::make_shared<pqxx::connection>(full);
    c->prepare("get", "SELECT id, embedding, content, metadata, version FROM lifeline_documents "
                      "WHERE collection = $1 AND id = $2 AND NOT deleted");
    return [c, collection, docs](std::mt19937_64& rng) {
      pqxx::nontransaction tx{*c};
      auto r = tx.exec_prepared("get", collection, "d" + std::to_string(rng() % docs));
      if (r.empty()) throw std::runtime_error("raw libpqxx get found nothing");
    };
  });
}

rate pgbench_select(int clients, double seconds) {
  rate r;
  const char* bindir = std::getenv("LIFELINE_PG_BINDIR");
  std::string pgbench = bindir ? std::string{bindir} + "/pgbench" : "pgbench";
  setenv("PGPASSWORD", password().c_str(), 1);
  if (std::system((pgbench + " -i -s 1 -q >/dev/null 2>&1").c_str()) != 0) {
    r.note = "pgbench -i failed (needs the PG* environment of scripts/pg.sh)";
    return r;
  }
  auto run = pgbench + " -n -S -M prepared -c " + std::to_string(clients) + " -j "
             + std::to_string(clients) + " -T " + std::to_string(int(seconds)) + " 2>/dev/null";
  FILE* p = popen(run.c_str(), "r");
  if (!p) return r;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    if (auto* tps = std::strstr(line, "tps = "); tps && std::strstr(line, "without initial"))
      r.per_second = std::atof(tps + 6);
    if (auto* lat = std::strstr(line, "latency average = ")) r.note = std::string{"average "} + (lat + 18);
  }
  pclose(p);
  if (!r.note.empty() && r.note.back() == '\n') r.note.pop_back();
  return r;
}

rate raw_hnswlib_search(const dataset& data, uint32_t k, int threads, double seconds) {
  hnsw::raw_index index{metric::l2, data.dimension, data.size(), 16, 200};
  for (size_t i = 0; i < data.size(); ++i) index.add(data.vector(i).data(), i);
  index.set_ef(64);
  return closed_loop(threads, seconds, [&](int) {
    return [&](std::mt19937_64& rng) {
      auto hits = index.search(data.query(rng() % data.query_count()).data(), k);
      if (hits.empty()) throw std::runtime_error("raw hnswlib found nothing");
    };
  });
}

} // namespace lifeline::bench
