#include "harness/ingest.hpp"

#include "backends/hnsw/collection.hpp"
#include "backends/postgres_codec.hpp"
#include "backends/registry.hpp"
#include "harness/baselines.hpp"
#include "harness/report.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

namespace lifeline::bench {

using clock_type = std::chrono::steady_clock;

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double machine_busy_seconds() {
  // /proc/stat's first line: cpu user nice system idle iowait irq softirq steal ...
  std::ifstream in{"/proc/stat"};
  std::string cpu;
  unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  return double(user + nice + system + irq + softirq + steal) / double(sysconf(_SC_CLK_TCK));
}

namespace {

/// Runs `in_flight` threads for `seconds`, each calling its `write(first)`
/// with fresh first ids (batch apart) until the time is up: one batch per
/// call, true if it succeeded.
template <class MakeWriter>
ingest_rate closed_loop_batches(const ingest_config& cfg, size_t first_id, bool measure_cpu,
                                MakeWriter make_writer) {
  std::atomic<size_t> next{first_id};
  std::atomic<uint64_t> errors{0};
  std::vector<std::vector<float>> lat(size_t(cfg.in_flight));
  std::mutex m;
  std::string error;
  auto cpu0 = process_cpu_seconds();
  auto t0 = clock_type::now();
  auto until = t0 + std::chrono::duration_cast<clock_type::duration>(
                      std::chrono::duration<double>(cfg.seconds));
  std::vector<std::thread> ts;
  for (int w = 0; w < cfg.in_flight; ++w)
    ts.emplace_back([&, w] {
      try {
        auto write = make_writer();
        while (clock_type::now() < until) {
          auto first = next.fetch_add(cfg.batch);
          auto t = clock_type::now();
          bool ok = write(first);
          lat[size_t(w)].push_back(
            float(std::chrono::duration<double, std::milli>(clock_type::now() - t).count()));
          if (!ok) ++errors;
        }
      } catch (const std::exception& e) {
        std::lock_guard g{m};
        error = e.what();
      }
    });
  for (auto& t : ts) t.join();
  double wall = std::chrono::duration<double>(clock_type::now() - t0).count();
  ingest_rate r;
  r.note = error;
  r.errors = errors;
  std::vector<float> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  auto ok_batches = all.size() >= r.errors ? all.size() - r.errors : 0;
  r.docs_per_second = double(ok_batches) * cfg.batch / wall;
  r.batch_p50_ms = percentile(all, 0.5);
  if (measure_cpu) r.client_cores = (process_cpu_seconds() - cpu0) / wall;
  if (r.errors > 0 && r.note.empty()) r.note = std::to_string(r.errors) + " batches failed";
  return r;
}

std::vector<document> batch_of(const dataset& data, size_t first, uint32_t n) {
  std::vector<document> docs;
  docs.reserve(n);
  for (size_t i = first; i < first + n; ++i) {
    auto v = data.vector(i % data.size());
    docs.push_back(document{"d" + std::to_string(i), {v.begin(), v.end()}, "i", {}, 1});
  }
  return docs;
}

} // namespace

ingest_rate raw_hnswlib_parallel_insert(const dataset& data, int threads) {
  hnsw::raw_index index{metric::l2, data.dimension, data.size(), 16, 200};
  std::atomic<size_t> next{0};
  auto t0 = clock_type::now();
  std::vector<std::thread> ts;
  for (int w = 0; w < threads; ++w)
    ts.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < data.size();) index.add(data.vector(i).data(), i);
    });
  for (auto& t : ts) t.join();
  ingest_rate r;
  r.docs_per_second =
    double(data.size()) / std::chrono::duration<double>(clock_type::now() - t0).count();
  return r;
}

ingest_rate raw_libpqxx_batch_insert(const std::string& conninfo, const std::string& collection,
                                     const dataset& data, const ingest_config& cfg) {
  auto full = conninfo + " password='" + postgres_password() + "'";
  try {
    pqxx::connection admin{full};
    pqxx::nontransaction{admin}.exec_params(
      "INSERT INTO lifeline_collections (name, dimension, metric) VALUES ($1, $2, 'l2')"
      " ON CONFLICT (name) DO NOTHING",
      collection, int(data.dimension));
    auto r = closed_loop_batches(cfg, 0, false, [&] {
      auto c = std::make_shared<pqxx::connection>(full);
      c->prepare("insert",
                 "INSERT INTO lifeline_documents (collection, id, embedding, content, metadata, version)"
                 " SELECT $1, u.id, u.embedding, u.content, u.metadata::json, u.version"
                 " FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[], $6::bigint[])"
                 "   AS u(id, embedding, content, metadata, version)");
      return [c, &collection, &data, &cfg](size_t first) {
        pg::document_arrays arrays;
        for (auto& d : batch_of(data, first, cfg.batch)) arrays.add(d, d.vector);
        arrays.close();
        pqxx::work tx{*c};
        tx.exec_prepared("insert", collection, arrays.ids, arrays.vectors, arrays.contents,
                         arrays.metadata, arrays.versions);
        tx.commit();
        return true;
      };
    });
    pqxx::nontransaction{admin}.exec_params("DELETE FROM lifeline_collections WHERE name = $1",
                                            collection);
    return r;
  } catch (const std::exception& e) {
    ingest_rate r;
    r.note = e.what();
    return r;
  }
}

ingest_rate target_ingest(const std::function<std::unique_ptr<target>()>& make_target,
                          const dataset& data, const ingest_config& cfg, size_t first_id,
                          bool measure_cpu) {
  (void) data;
  return closed_loop_batches(cfg, first_id, measure_cpu, [&] {
    std::shared_ptr<target> t = make_target();
    return [t, &cfg](size_t first) { return t->upsert(first, cfg.batch, "i").status == 200; };
  });
}

backend_ingest_rates backend_ingest(const std::string& conninfo, const std::string& dir,
                                    const std::string& collection, const dataset& data,
                                    const ingest_config& cfg) {
  backend_ingest_rates out;
  auto run = [&](const std::string& kind, const backend_settings& settings, ingest_rate& into) {
    try {
      auto maker = find_backend_kind(kind)->configure(kind, settings, dir);
      if (!maker) throw std::runtime_error(maker.error().message);
      auto made = (*maker)();
      if (!made) throw std::runtime_error(made.error().message);
      auto b = *made;
      // The vector store loads in the background: wait for it (bounded).
      for (int i = 0; i < 3000 && !b->probe(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10)); // waiting for a load, not a test
      collection_spec spec{collection, data.dimension, metric::l2};
      if (auto ok = b->create_collection(spec); !ok) throw std::runtime_error(ok.error().message);
      into = closed_loop_batches(cfg, 0, false, [&] {
        return [&](size_t first) { return bool(b->upsert(collection, batch_of(data, first, cfg.batch))); };
      });
      (void) b->drop_collection(collection);
    } catch (const std::exception& e) {
      into.note = e.what();
    }
  };
  std::filesystem::create_directories(dir);
  run("hnsw", {}, out.vectors);
  run("postgres", {{"conninfo", conninfo}, {"pool_size", std::to_string(cfg.in_flight)}},
      out.postgres);
  return out;
}

std::string format_ingest(const ingest_rows& rows, const ingest_config& cfg, int raw_threads) {
  std::string out;
  char line[320];
  double base = rows.raw_hnswlib.docs_per_second;
  auto row = [&](const std::string& path, const ingest_rate& r) {
    char p50[32] = "      -   ", cpu[48] = "";
    if (r.batch_p50_ms > 0) std::snprintf(p50, sizeof p50, "%7.1f ms", r.batch_p50_ms);
    if (r.client_cores >= 0)
      std::snprintf(cpu, sizeof cpu, "client CPU %.2f cores ", r.client_cores);
    char ratio[16] = "-";
    if (r.docs_per_second > 0 && base > 0)
      std::snprintf(ratio, sizeof ratio, "%.2f", r.docs_per_second / base);
    std::snprintf(line, sizeof line, "  %-7s %-40s %9.0f docs/s  p50/batch %s  ratio %s %s%s\n",
                  "ingest", path.c_str(), r.docs_per_second, p50, ratio, cpu, r.note.c_str());
    out += line;
  };
  out += "ingest (batches of " + std::to_string(cfg.batch) + " new documents, "
         + std::to_string(cfg.in_flight) + " in flight; ratio to raw hnswlib's parallel insert):\n";
  row("raw hnswlib addPoint, " + std::to_string(raw_threads) + " threads", rows.raw_hnswlib);
  row("plain libpqxx batch INSERT", rows.raw_libpqxx);
  row("vector store alone (upsert called)", rows.vectors_alone);
  row("PostgreSQL backend alone (upsert called)", rows.postgres_alone);
  row("coordinator in-process (both durable)", rows.inprocess);
  row("HTTP API (both durable)", rows.http);
  return out;
}

} // namespace lifeline::bench
