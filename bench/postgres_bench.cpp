// PostgreSQL backend benchmarks, each printed as a ratio against a baseline
// measured in the same run:
//  1. get-by-id throughput with N connections: through the backend actor and
//     through the coordinator, next to plain libpqxx with N threads and next
//     to `pgbench -S -M prepared` with N clients;
//  2. get-by-id from 8 threads, closed loop: plain libpqxx (one connection
//     per thread) next to the backend's asynchronous reader (get_async, its
//     default connection count, coalescing); `--async-only` runs just this;
//  3. exact k-NN latency at 10k and 100k vectors of dimension 128: streaming
//     bytea vectors to the client (what the backend does) next to computing
//     the distances in SQL over real[].
//
// Needs the environment of scripts/pg.sh; run it with
//   bash scripts/bench.sh lifeline-bench-postgres [--connections N] [--seconds S]
#include "actors/backend_actor.hpp"
#include "actors/runtime.hpp"
#include "backends/postgres_async.hpp"
#include "backends/postgres_backend.hpp"
#include "backends/postgres_codec.hpp"
#include "core/validation.hpp"

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>

using namespace lifeline;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr uint32_t dim = 128;
constexpr int get_docs = 10000;

std::string conninfo(const postgres_config& cfg) {
  return cfg.dsn + " password='" + cfg.password + "'";
}

std::vector<float> random_vector(std::mt19937& rng) {
  // Clustered: 32 centres, gaussian spread around them.
  static std::vector<std::vector<float>> centres;
  std::normal_distribution<float> gauss;
  if (centres.empty()) {
    std::mt19937 crng{1};
    for (int c = 0; c < 32; ++c) {
      std::vector<float> v(dim);
      for (auto& x : v) x = gauss(crng) * 4;
      centres.push_back(v);
    }
  }
  auto& c = centres[rng() % centres.size()];
  std::vector<float> v(dim);
  for (uint32_t i = 0; i < dim; ++i) v[i] = c[i] + gauss(rng);
  return v;
}

void load(postgres_backend& pg, const std::string& collection, int n) {
  pg.create_collection({collection, dim, metric::l2});
  auto stats = pg.collection_stats(collection);
  if (stats && stats->count == uint64_t(n)) return;
  std::mt19937 rng{42};
  for (int start = 0; start < n; start += 1000) {
    std::vector<document> batch;
    for (int i = start; i < std::min(n, start + 1000); ++i)
      batch.push_back({"d" + std::to_string(i), random_vector(rng), "content " + std::to_string(i),
                       R"({"i":)" + std::to_string(i) + "}", 0});
    if (!pg.upsert(collection, batch)) {
      std::fprintf(stderr, "load failed\n");
      std::exit(1);
    }
  }
}

/// The same vectors as real[] in a plain table, for the SQL variant.
void load_real_table(const postgres_config& cfg, const std::string& table, int n) {
  pqxx::connection c{conninfo(cfg)};
  {
    pqxx::work tx{c};
    tx.exec("CREATE TABLE IF NOT EXISTS " + table + " (id text PRIMARY KEY, embedding real[])");
    if (tx.exec("SELECT count(*) FROM " + table)[0][0].as<int>() == n) return;
    tx.exec("TRUNCATE " + table);
    tx.commit();
  }
  std::mt19937 rng{42};
  for (int start = 0; start < n; start += 1000) {
    std::vector<std::string> ids, vecs;
    for (int i = start; i < std::min(n, start + 1000); ++i) {
      auto v = random_vector(rng);
      std::string lit = "{";
      for (uint32_t k = 0; k < dim; ++k) lit += (k ? "," : "") + std::to_string(v[k]);
      ids.push_back("d" + std::to_string(i));
      vecs.push_back(lit + "}");
    }
    pqxx::work tx{c};
    tx.exec_params("INSERT INTO " + table
                     + " SELECT u.id, u.e::real[] FROM unnest($1::text[], $2::text[]) AS u(id, e)",
                   pg::text_array(ids), pg::text_array(vecs));
    tx.commit();
  }
}

double raw_libpqxx_gets(const postgres_config& cfg, int connections, std::chrono::seconds t) {
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> threads;
  auto start = clock_type::now();
  auto until = start + t;
  for (int i = 0; i < connections; ++i)
    threads.emplace_back([&, i] {
      pqxx::connection c{conninfo(cfg)};
      c.prepare("get", "SELECT embedding, content, coalesce(metadata::text, ''), version"
                       " FROM lifeline_documents WHERE collection = $1 AND id = $2");
      std::mt19937 rng(i);
      std::vector<float> v;
      uint64_t n = 0;
      while (clock_type::now() < until) {
        pqxx::nontransaction tx{c};
        auto r = tx.exec_prepared("get", std::string{"bench_get"},
                                  "d" + std::to_string(rng() % get_docs));
        pg::decode_bytea_hex(r[0][0].c_str(), v);
        ++n;
      }
      total += n;
    });
  for (auto& th : threads) th.join();
  return double(total) / std::chrono::duration<double>(clock_type::now() - start).count();
}

/// `threads` threads, each waiting for its get_async answer before the next.
double async_gets(postgres_backend& pg, int threads, std::chrono::milliseconds t) {
  std::atomic<uint64_t> total{0}, errors{0};
  std::vector<std::thread> workers;
  auto start = clock_type::now();
  auto until = start + t;
  for (int i = 0; i < threads; ++i)
    workers.emplace_back([&, i] {
      std::mutex m;
      std::condition_variable cv;
      bool done = false;
      bool ok = false;
      std::mt19937 rng(i);
      uint64_t n = 0;
      while (clock_type::now() < until) {
        done = false;
        pg.get_async("bench_get", "d" + std::to_string(rng() % get_docs),
                     [&](expected<document> r) {
                       std::lock_guard guard{m};
                       ok = bool(r);
                       done = true;
                       cv.notify_one();
                     });
        std::unique_lock guard{m};
        cv.wait(guard, [&] { return done; });
        ++n;
        if (!ok) ++errors;
      }
      total += n;
    });
  for (auto& w : workers) w.join();
  if (errors) std::fprintf(stderr, "warning: %llu errors\n", (unsigned long long) errors.load());
  return double(total) / std::chrono::duration<double>(clock_type::now() - start).count();
}

/// `threads` threads on their own open libpqxx connections, closed loop,
/// for `t`; the connections stay open between slices.
double libpqxx_slice(std::vector<std::unique_ptr<pqxx::connection>>& conns,
                     std::chrono::milliseconds t) {
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> threads;
  auto start = clock_type::now();
  auto until = start + t;
  for (size_t i = 0; i < conns.size(); ++i)
    threads.emplace_back([&, i] {
      std::mt19937 rng(i);
      std::vector<float> v;
      uint64_t n = 0;
      while (clock_type::now() < until) {
        pqxx::nontransaction tx{*conns[i]};
        auto r = tx.exec_prepared("get", std::string{"bench_get"},
                                  "d" + std::to_string(rng() % get_docs));
        pg::decode_bytea_hex(r[0][0].c_str(), v);
        ++n;
      }
      total += n;
    });
  for (auto& th : threads) th.join();
  return double(total) / std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Plain libpqxx vs get_async, 8 threads each, in one run. The machine is
/// shared and its load drifts, so the paths take turns in short slices and
/// each rate is the mean over its slices: a drift hits all of them alike.
void async_comparison(const postgres_config& base, std::chrono::seconds t) {
  constexpr int threads = 8;
  constexpr int rounds = 10;
  auto slice = std::chrono::duration_cast<std::chrono::milliseconds>(t) / rounds;
  std::printf("\nget-by-id from %d threads, closed loop, %d alternating slices of %lld ms\n",
              threads, rounds, (long long) slice.count());
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  for (int i = 0; i < threads; ++i) {
    conns.push_back(std::make_unique<pqxx::connection>(conninfo(base)));
    conns.back()->prepare("get", "SELECT embedding, content, coalesce(metadata::text, ''), version"
                                 " FROM lifeline_documents WHERE collection = $1 AND id = $2");
  }
  std::vector<uint32_t> counts = {2u, postgres_config{}.pool_size, 8u};
  std::vector<std::unique_ptr<postgres_backend>> readers;
  for (auto n : counts) {
    auto cfg = base;
    cfg.pool_size = postgres_config{}.pool_size;
    cfg.async_connections = n;
    readers.push_back(std::make_unique<postgres_backend>(cfg));
    async_gets(*readers.back(), threads, std::chrono::seconds(1)); // opens the connections
  }
  std::vector<postgres_async::counters> before;
  for (auto& r : readers) before.push_back(r->async_reader()->stats());
  double raw = 0;
  std::vector<double> rate(readers.size(), 0);
  for (int round = 0; round < rounds; ++round) {
    raw += libpqxx_slice(conns, slice) / rounds;
    for (size_t k = 0; k < readers.size(); ++k)
      rate[k] += async_gets(*readers[k], threads, slice) / rounds;
  }
  std::printf("%-52s %12s %10s %12s\n", "path", "requests/s", "vs libpqxx", "ids/query");
  std::printf("%-52s %12.0f %10.2f %12s\n", "plain libpqxx, 8 threads x 1 connection", raw, 1.0, "1");
  for (size_t k = 0; k < readers.size(); ++k) {
    auto after = readers[k]->async_reader()->stats();
    double per_query = double(after.ids - before[k].ids)
                       / double(std::max<uint64_t>(1, after.queries - before[k].queries));
    std::printf("%-52s %12.0f %10.2f %12.2f\n",
                ("get_async, " + std::to_string(counts[k]) + " connections"
                 + (counts[k] == postgres_config{}.pool_size ? " (default)" : ""))
                  .c_str(),
                rate[k], rate[k] / raw, per_query);
  }
}

struct loop_state {
  uint64_t done = 0;
  uint64_t errors = 0;
};

/// Closed loop through an actor: `inflight` gets outstanding for `t`.
template <class Handle, class Reply>
double actor_gets(caf::actor_system& sys, Handle target, int inflight, std::chrono::seconds t) {
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  auto until = start + t;
  sys.spawn([=](caf::stateful_actor<loop_state>* d, caf::actor report) {
    auto issue = std::make_shared<std::function<void()>>();
    auto outstanding = std::make_shared<int>(0);
    *issue = [=] {
      if (clock_type::now() >= until) {
        if (*outstanding == 0) {
          d->send(report, d->state.done, d->state.errors);
          d->quit();
        }
        return;
      }
      ++*outstanding;
      d->request(target, caf::infinite, get_atom::value, std::string{"bench_get"},
                 "d" + std::to_string(d->state.done * 7919 % get_docs))
        .then([=](const Reply&) { --*outstanding; ++d->state.done; (*issue)(); },
              [=](const caf::error&) { --*outstanding; ++d->state.errors; (*issue)(); });
    };
    for (int i = 0; i < inflight; ++i) (*issue)();
    return caf::behavior{[](caf::unit_t) {}};
  }, caf::actor{self});
  uint64_t done = 0, errors = 0;
  self->receive([&](uint64_t n, uint64_t e) { done = n; errors = e; });
  if (errors) std::fprintf(stderr, "warning: %llu errors\n", (unsigned long long) errors);
  return double(done) / std::chrono::duration<double>(clock_type::now() - start).count();
}

double pgbench_tps(int clients, std::chrono::seconds t, const std::string& password) {
  const char* bindir = std::getenv("LIFELINE_PG_BINDIR");
  std::string pgbench = bindir ? std::string{bindir} + "/pgbench" : "pgbench";
  setenv("PGPASSWORD", password.c_str(), 1);
  std::string init = pgbench + " -i -s 1 -q >/dev/null 2>&1";
  if (std::system(init.c_str()) != 0) return 0;
  std::string run = pgbench + " -n -S -M prepared -c " + std::to_string(clients) + " -j "
                    + std::to_string(clients) + " -T " + std::to_string(t.count()) + " 2>/dev/null";
  FILE* p = popen(run.c_str(), "r");
  if (!p) return 0;
  char line[512];
  double tps = 0;
  while (std::fgets(line, sizeof line, p))
    if (std::strstr(line, "tps = ") && std::strstr(line, "without initial connection time"))
      tps = std::atof(std::strstr(line, "tps = ") + 6);
  pclose(p);
  return tps;
}

double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  int connections = 4;
  int seconds = 5;
  bool async_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--async-only")) async_only = true;
    else if (!std::strcmp(argv[i], "--connections") && i + 1 < argc) connections = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = std::atoi(argv[++i]);
  }
  if (!std::getenv("LIFELINE_PG_DSN")) {
    std::fprintf(stderr, "run through scripts/bench.sh (it starts PostgreSQL)\n");
    return 2;
  }
  postgres_config cfg;
  cfg.dsn = std::getenv("LIFELINE_PG_DSN");
  cfg.password_from_env();
  cfg.pool_size = uint32_t(connections);
  cfg.statement_timeout = 60s;
  auto pg = std::make_shared<postgres_backend>(cfg);
  std::printf("loading...\n");
  load(*pg, "bench_get", get_docs);
  auto t = std::chrono::seconds(seconds);
  async_comparison(cfg, t);
  if (async_only) return 0;

  caf::actor_system_config untuned_cfg;
  caf::actor_system untuned{untuned_cfg};
  caf::actor_system_config sys_cfg;
  tune_scheduler(sys_cfg);
  caf::actor_system sys{sys_cfg};
  auto actor = spawn_backend_actor(sys, pg);
  auto untuned_actor = spawn_backend_actor(untuned, pg);
  runtime_config rc;
  rc.backends.push_back({"postgres", shared_instance(pg)});
  auto rt = spawn_runtime(sys, rc);
  if (!rt.await_ready(sys)) return 1;

  std::printf("\nget-by-id, %d connections / clients, %d s each\n", connections, seconds);
  double raw = raw_libpqxx_gets(cfg, connections, t);
  double via_untuned = actor_gets<backend_actor, document>(untuned, untuned_actor, connections, t);
  double via_actor = actor_gets<backend_actor, document>(sys, actor, connections, t);
  double via_coord = actor_gets<coordinator_actor, served<document>>(sys, rt.coordinator, connections, t);
  double queued = actor_gets<coordinator_actor, served<document>>(sys, rt.coordinator, 4 * connections, t);
  double pgb = pgbench_tps(connections, t, cfg.password);
  std::printf("%-44s %12s %14s %14s\n", "path", "requests/s", "vs libpqxx", "vs pgbench -S");
  auto row = [&](const char* name, double v) {
    std::printf("%-44s %12.0f %14.2f %14.2f\n", name, v, v / raw, pgb > 0 ? v / pgb : 0.0);
  };
  row("pgbench -S -M prepared", pgb);
  row("plain libpqxx, one thread per connection", raw);
  row("backend actor, CAF's default scheduler", via_untuned);
  row("backend actor, tune_scheduler()", via_actor);
  row("coordinator -> backend actor", via_coord);
  std::printf("  with %d requests in flight (4 per connection):\n", 4 * connections);
  row("coordinator -> backend actor", queued);

  std::printf("\nexact k-NN (k=10, l2), dimension %u, median of 5 queries\n", dim);
  std::printf("%-10s %22s %22s %8s\n", "vectors", "client-side bytea ms", "SQL over real[] ms",
              "speedup");
  for (int n : {10000, 100000}) {
    auto collection = "bench_search_" + std::to_string(n);
    load(*pg, collection, n);
    auto table = "bench_real_" + std::to_string(n);
    load_real_table(cfg, table, n);
    std::mt19937 rng{7};
    std::vector<double> client, server;
    pqxx::connection c{conninfo(cfg)};
    for (int q = 0; q < 5; ++q) {
      auto v = random_vector(rng);
      auto s0 = clock_type::now();
      auto hits = pg->search({collection, v, 10, 0});
      client.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - s0).count());
      if (!hits || hits->size() != 10) return 1;
      std::string lit = "{";
      for (uint32_t k = 0; k < dim; ++k) lit += (k ? "," : "") + std::to_string(v[k]);
      lit += "}";
      auto s1 = clock_type::now();
      pqxx::nontransaction tx{c};
      tx.exec_params("SELECT id FROM (SELECT id, (SELECT sum((e - q) * (e - q)) FROM"
                     " unnest(embedding, $1::real[]) AS t(e, q)) AS d FROM " + table
                       + ") AS s ORDER BY d, id LIMIT 10",
                     lit);
      server.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - s1).count());
    }
    auto cm = median_ms(client), sm = median_ms(server);
    std::printf("%-10d %22.1f %22.1f %8.2f\n", n, cm, sm, sm / cm);
  }
  rt.stop();
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(untuned_actor, caf::exit_reason::user_shutdown);
  return 0;
}
