// lifeline-bench: what failures cost. Loads a data set into Lifeline, runs a
// mixed load against the HTTP API (or the coordinator in-process) while a
// fault scenario breaks PostgreSQL and the vector store, and writes
// per-second rows, a summary and a plot. With --baselines it also measures
// plain libpqxx, `pgbench -S` and plain hnswlib in the same run and prints
// Lifeline's numbers as ratios. See docs/BENCHMARKS.md.
#include "harness/baselines.hpp"
#include "harness/dataset.hpp"
#include "harness/http.hpp"
#include "harness/ingest.hpp"
#include "harness/inprocess.hpp"
#include "harness/overload.hpp"
#include "harness/report.hpp"
#include "harness/scenario.hpp"
#include "harness/workload.hpp"

#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>
#include <unistd.h>

using namespace lifeline::bench;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::string target = "http", url, server, token_file, postgres, data_dir, out;
  std::string cache_dir = "build/bench-cache", base_file, query_file, truth_file;
  std::string mix = "get:50,search:30,upsert:15,batch:5", scenario = "failover";
  std::vector<std::string> faults;
  std::string pg_script = LIFELINE_SOURCE_DIR "/scripts/pg.sh";
  std::string server_log_level = "warn";
  uint32_t dimension = 128, k = 10;
  size_t docs = 20000, queries = 1000;
  uint64_t seed = 42;
  int concurrency = 8;
  double rate = 0, seconds = 40, baseline_seconds = 5;
  bool baselines = false;
  bool no_hedging = false; ///< The started server routes reads as before hedging (see --no-hedging).
  // Limits of the started server (-1: its default) and the overload scenario.
  int64_t max_in_flight = -1, backend_max_in_flight = -1;
  double warmup_seconds = 2, capacity_seconds = 10, overload_seconds = 20, recovery_seconds = 10;
  double overload_factor = 2, recovery_factor = 0.5;
  int capacity_concurrency = 0, client_connections = 1024, check_requests = 200;
};

std::string read_token(const std::string& file) {
  if (file.empty()) return std::getenv("LIFELINE_TOKEN") ? std::getenv("LIFELINE_TOKEN") : "";
  std::ifstream in{file};
  std::string t;
  if (!in || !std::getline(in, t)) throw std::runtime_error("cannot read " + file);
  return t;
}

dataset load_data(const options& o) {
  if (!o.base_file.empty()) {
    if (o.query_file.empty()) throw std::runtime_error("--base needs --query");
    return load_files(o.base_file, o.query_file, o.truth_file, o.k);
  }
  std::filesystem::create_directories(o.cache_dir);
  cache_report rep;
  auto d = load_or_generate(o.cache_dir, o.dimension, o.docs, o.queries, o.k, o.seed, &rep);
  std::fprintf(stderr, "data: %zu vectors of dimension %u, %zu queries (%s)\n", d.size(), d.dimension,
               d.query_count(), rep.generated ? "generated" : "from the cache");
  return d;
}

/// Loads every vector as d<i>, `threads` batches at a time.
void load_documents(const std::function<std::unique_ptr<target>()>& make, size_t docs, int threads) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> ts;
  for (int w = 0; w < threads; ++w)
    ts.emplace_back([&] {
      auto t = make();
      for (size_t first; (first = next.fetch_add(500)) < docs;) {
        auto n = std::min<size_t>(500, docs - first);
        if (t->upsert(first, n, "c").status != 200) failed = true;
      }
    });
  for (auto& t : ts) t.join();
  if (failed) throw std::runtime_error("loading the documents failed");
}

bool all_in_sync(const std::string& url, const std::string& token) {
  auto c = client_for(url, token);
  for (int i = 0; i < 6000; ++i) {
    auto h = try_request(c, "GET", "/v1/health");
    if (h.status == 200 && h.body.find(R"("status":"ok")") != std::string::npos
        && h.body.find(R"("pending":0,)") != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // waiting for a server, not a test
  }
  return false;
}

/// The started server's configuration for --scenario standby: PostgreSQL
/// with its primary and hot standby listed (it follows a promotion) and the
/// standby as a read replica, then the vector store. The ports come from
/// scripts/pg.sh (pg_start, pg_standby_start: scripts/bench.sh runs both).
std::string standby_config(const std::string& dir) {
  auto port = std::getenv("LIFELINE_PG_PORT"), standby = std::getenv("LIFELINE_PG_STANDBY_PORT");
  if (!port || !standby)
    throw std::runtime_error("--scenario standby needs a PostgreSQL standby: run it through "
                             "scripts/bench.sh, which starts one");
  auto path = dir + "/standby.toml";
  std::ofstream{path} << "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\npriority = 0\n"
                      << "conninfo = \"host=127.0.0.1,127.0.0.1 port=" << port << "," << standby
                      << " user=lifeline dbname=lifeline target_session_attrs=read-write\"\n"
                      << "read_replicas = [\"host=127.0.0.1 port=" << standby
                      << " user=lifeline dbname=lifeline\"]\n"
                      << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 1\n";
  return path;
}

std::string ratio(double x, double base) {
  if (x <= 0 || base <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", x / base);
  return buf;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  CLI::App app{"lifeline-bench: load, faults and baselines for Lifeline (docs/BENCHMARKS.md)"};
  app.add_option("--target", o.target, "http (default) or inprocess (the coordinator in this process)");
  app.add_option("--url", o.url, "A running server's base URL (default: start build/bin/lifeline serve)");
  app.add_option("--server", o.server, "The lifeline binary to start (default: next to this one)");
  app.add_option("--token-file", o.token_file, "Bearer token file (or LIFELINE_TOKEN)");
  app.add_option("--postgres", o.postgres, "libpq connection string (default $LIFELINE_PG_DSN)");
  app.add_option("--data-dir", o.data_dir, "Data directory of the started server (default: a new temporary one)");
  app.add_option("--dimension", o.dimension, "Synthetic vectors: dimension (e.g. 128 or 768)");
  app.add_option("--docs", o.docs, "Synthetic vectors: how many documents");
  app.add_option("--queries", o.queries, "Synthetic vectors: how many queries");
  app.add_option("--seed", o.seed, "Synthetic vectors and the load: seed");
  app.add_option("--k", o.k, "Neighbours per search (and in the ground truth)");
  app.add_option("--cache-dir", o.cache_dir, "Where generated sets and their ground truth are kept");
  app.add_option("--base", o.base_file, "Your own base vectors (.fvecs), instead of synthetic ones");
  app.add_option("--query", o.query_file, "Your own queries (.fvecs)");
  app.add_option("--truth", o.truth_file, "Their ground truth (.ivecs; computed if missing)");
  app.add_option("--mix", o.mix, "Operation weights, e.g. get:50,search:30,upsert:15,batch:5");
  app.add_option("--concurrency", o.concurrency, "Closed loop: requests in flight (also the threads of an open loop)");
  app.add_option("--rate", o.rate, "Open loop: requests per second (latency from the intended send time)");
  app.add_option("--seconds", o.seconds, "Duration of the measured run");
  app.add_option("--scenario", o.scenario,
                 "none, failover, pause, vectors, both, flap, a scenario file, or overload (admission control: "
                 "capacity, then an open loop past it, then recovery)");
  app.add_option("--fault", o.faults, "SECONDS:ACTION[:ARGS], e.g. 10:pg-kill (adds to the scenario)");
  app.add_option("--out", o.out, "Directory for the CSV, JSON, summary and plot");
  app.add_flag("--baselines", o.baselines, "Also measure libpqxx, pgbench -S, hnswlib, in-process and HTTP");
  app.add_option("--baseline-seconds", o.baseline_seconds, "Duration of each baseline");
  app.add_option("--pg-script", o.pg_script, "scripts/pg.sh of the PostgreSQL to break");
  app.add_option("--server-log-level", o.server_log_level, "--log-level of the started server (default warn)");
  app.add_option("--max-in-flight", o.max_in_flight,
                 "--max-in-flight of the started server (default: the server's; 16 with --scenario overload)");
  app.add_option("--backend-max-in-flight", o.backend_max_in_flight,
                 "--backend-max-in-flight of the started server (default: the server's)");
  app.add_flag("--no-hedging", o.no_hedging,
               "Start the server without latency-aware reads (hedging = false, outlier_factor = 0), "
               "to compare --scenario stutter with and without");
  app.add_option("--warmup-seconds", o.warmup_seconds, "overload: closed-loop warm-up, discarded");
  app.add_option("--capacity-seconds", o.capacity_seconds, "overload: closed loop that measures the capacity C");
  app.add_option("--capacity-concurrency", o.capacity_concurrency,
                 "overload: requests in flight of that closed loop (default: the server's --max-in-flight)");
  app.add_option("--overload-seconds", o.overload_seconds, "overload: open loop at --overload-factor x C");
  app.add_option("--overload-factor", o.overload_factor, "overload: its rate, in C");
  app.add_option("--recovery-seconds", o.recovery_seconds, "overload: open loop after it at --recovery-factor x C");
  app.add_option("--recovery-factor", o.recovery_factor, "overload: the recovery rate, in C");
  app.add_option("--client-connections", o.client_connections, "overload: connections the client may open at most");
  app.add_option("--check-requests", o.check_requests,
                 "overload: sequential requests after the run that must all be answered correctly");
  CLI11_PARSE(app, argc, argv);

  try {
    if (o.postgres.empty() && std::getenv("LIFELINE_PG_DSN")) o.postgres = std::getenv("LIFELINE_PG_DSN");
    if (o.postgres.empty() && o.url.empty())
      throw std::runtime_error("no PostgreSQL: pass --postgres or run through scripts/bench.sh");
    if (o.target != "http" && o.target != "inprocess")
      throw std::runtime_error("--target must be http or inprocess");
    auto token = read_token(o.token_file);
    auto mix = op_mix::parse(o.mix);
    bool overloading = o.scenario == "overload";
    if (overloading && o.target != "http") throw std::runtime_error("--scenario overload needs --target http");
    if (overloading && o.max_in_flight < 0 && o.url.empty()) o.max_in_flight = 16;
    std::vector<fault_event> events;
    if (overloading) {
    } else if (std::filesystem::exists(o.scenario)) events = read_scenario(o.scenario);
    else events = builtin_scenario(o.scenario, o.seconds);
    for (auto& f : o.faults) events.push_back(parse_fault_flag(f));
    events = expand(std::move(events));
    if (o.out.empty()) o.out = "bench-results/" + o.scenario + "-" + std::to_string(::time(nullptr));
    std::filesystem::create_directories(o.out);
    o.out = std::filesystem::absolute(o.out).string();
    // A data directory the harness made is removed when it is done, also on
    // failure; declared before the server and the in-process service, so it
    // goes after them.
    struct remove_on_exit {
      std::string path;
      ~remove_on_exit() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove_all(path, ec);
      }
    } made_data_dir;
    if (o.data_dir.empty()) {
      char tmpl[] = "/tmp/lifeline-bench.XXXXXX";
      o.data_dir = ::mkdtemp(tmpl);
      made_data_dir.path = o.data_dir;
    }
    if (o.server.empty())
      o.server = (std::filesystem::canonical("/proc/self/exe").parent_path() / "lifeline").string();

    auto data = load_data(o);
    auto collection = "bench_" + std::to_string(::getpid()) + "_" + std::to_string(::time(nullptr));

    // The service under test.
    std::unique_ptr<server_child> server;
    std::unique_ptr<inprocess_service> inproc;
    std::string url = o.url;
    if (o.target == "http" && url.empty()) {
      std::vector<std::string> args{"--data-dir", o.data_dir, "--attempt-timeout-ms", "300",
                                    "--log-level", o.server_log_level};
      if (o.scenario == "standby") args.insert(args.end(), {"--config", standby_config(o.data_dir)});
      else args.insert(args.end(), {"--postgres", o.postgres});
      if (o.max_in_flight >= 0) args.insert(args.end(), {"--max-in-flight", std::to_string(o.max_in_flight)});
      if (o.backend_max_in_flight >= 0)
        args.insert(args.end(), {"--backend-max-in-flight", std::to_string(o.backend_max_in_flight)});
      if (o.no_hedging) { // a config file replaces the default backends: name the vector store too
        auto conf = o.data_dir + "/no-hedging.toml";
        std::ofstream{conf} << "hedging = false\noutlier_factor = 0\n[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 1\n";
        args.insert(args.end(), {"--config", conf});
      }
      server = std::make_unique<server_child>(o.server, args);
      url = server->url();
    }
    std::function<std::unique_ptr<target>()> make;
    if (o.target == "http") {
      auto c = client_for(url, token);
      auto r = try_request(c, "PUT", "/v1/collections/" + collection,
                           R"({"dimension":)" + std::to_string(data.dimension) + "}");
      if (r.status != 201) throw std::runtime_error("creating the collection: HTTP " + std::to_string(r.status) + " " + r.body);
      make = [&] { return http_target(url, token, collection, data); };
    } else {
      inproc = std::make_unique<inprocess_service>(o.postgres, o.data_dir);
      if (!inproc->create(collection, data.dimension)) throw std::runtime_error("creating the collection failed");
      make = [&] { return inproc->make_target(collection, data); };
    }
    auto t0 = clock_type::now();
    load_documents(make, data.size(), std::max(2, o.concurrency / 2));
    std::fprintf(stderr, "loaded %zu documents in %.1f s\n", data.size(),
                 std::chrono::duration<double>(clock_type::now() - t0).count());
    if (!url.empty() && !all_in_sync(url, token))
      throw std::runtime_error("the backends did not get in sync after loading");

    if (overloading) {
      overload_config oc;
      oc.url = url;
      oc.token = token;
      oc.collection = collection;
      oc.out = o.out;
      oc.title = "lifeline-bench: http, " + mix.describe() + ", scenario overload";
      oc.server_pid = server ? server->pid() : -1;
      if (server) {
        oc.server_limits = "--max-in-flight " + std::to_string(o.max_in_flight) + " --backend-max-in-flight "
                           + (o.backend_max_in_flight >= 0 ? std::to_string(o.backend_max_in_flight)
                                                           : std::string{"256 (default)"});
      } else {
        oc.server_limits = "as configured on " + url;
      }
      oc.mix = mix;
      oc.docs = data.size();
      oc.k = o.k;
      oc.seed = o.seed;
      oc.warmup_s = o.warmup_seconds;
      oc.capacity_s = o.capacity_seconds;
      oc.overload_s = o.overload_seconds;
      oc.recovery_s = o.recovery_seconds;
      oc.overload_factor = o.overload_factor;
      oc.recovery_factor = o.recovery_factor;
      oc.capacity_concurrency = o.capacity_concurrency > 0 ? o.capacity_concurrency
                                : o.max_in_flight > 0      ? int(o.max_in_flight)
                                                           : 64;
      oc.max_connections = o.client_connections;
      oc.check_requests = o.check_requests;
      return run_overload(oc, data);
    }

    // The measured run, with the faults on their own thread.
    fault_injector faults{o.pg_script, url, token};
    std::vector<applied_event> applied;
    std::mutex applied_mutex;
    std::atomic<bool> stop_faults{false};
    auto start = clock_type::now();
    std::thread fault_thread{[&] {
      for (auto& e : events) {
        auto due = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(e.at));
        while (!stop_faults && clock_type::now() < due) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (stop_faults) return;
        auto at = std::chrono::duration<double>(clock_type::now() - start).count();
        auto err = o.target == "inprocess" && e.action.rfind("vectors", 0) == 0
                     ? inproc->hold("vectors", e.action == "vectors-down")
                     : faults.apply(e);
        std::lock_guard g{applied_mutex};
        applied.push_back({e, at, err});
        std::fprintf(stderr, "\n%6.1f s: %s%s\n", at, e.action.c_str(), err.empty() ? "" : (" FAILED: " + err).c_str());
      }
    }};
    load_config cfg{o.seconds, o.concurrency, o.rate, mix, data.size(), 50, o.k, o.seed};
    auto samples = run_load(cfg, data, make, [&](double s, uint64_t done, uint64_t errors) {
      auto st = states_at(events, s);
      std::fprintf(stderr, "\r[%4.0f/%.0f s] %8llu requests, %6llu errors%s%s   ", s, o.seconds,
                   (unsigned long long)done, (unsigned long long)errors,
                   st.postgres_down ? ", postgres down" : "", st.vectors_down ? ", vectors down" : "");
    });
    stop_faults = true;
    fault_thread.join();
    std::fprintf(stderr, "\n");
    faults.heal();

    auto title = "lifeline-bench: " + o.target + ", " + mix.describe() + ", "
                 + (o.rate > 0 ? "open loop " + std::to_string(int(o.rate)) + "/s"
                               : "closed loop " + std::to_string(o.concurrency) + " in flight")
                 + ", scenario " + o.scenario + (o.no_hedging ? ", no hedging" : "");
    // Search quality against the exact ground truth, on the backends as
    // they are after the run (reads from the vector store: approximate).
    if (!url.empty() && all_in_sync(url, token) && !data.truth.empty()) {
      auto c = client_for(url, token);
      double sum = 0;
      size_t n = std::min<size_t>(200, data.query_count());
      std::string served;
      for (size_t j = 0; j < n; ++j) {
        std::string body = R"({"k":)" + std::to_string(o.k) + R"(,"vector":[)";
        auto q = data.query(j);
        for (size_t i = 0; i < q.size(); ++i) body += (i ? "," : "") + std::to_string(q[i]);
        body += "]}";
        auto r = try_request(c, "POST", "/v1/collections/" + collection + "/search", body);
        served = r.header("x-served-by");
        std::vector<uint32_t> ids;
        for (size_t at = 0; (at = r.body.find(R"("id":"d)", at)) != std::string::npos; at += 7)
          ids.push_back(uint32_t(std::strtoul(r.body.c_str() + at + 7, nullptr, 10)));
        sum += recall_at_k(ids, data.truth_for(j), o.k);
      }
      char line[160];
      std::snprintf(line, sizeof line, "  search recall@%u over %zu queries: %.3f (served by %s)\n", o.k, n,
                    sum / double(n), served.c_str());
      std::ofstream{o.out + "/recall.txt"} << line;
      std::cout << line;
    }
    auto rows = per_second(samples, events, o.seconds);
    auto sum = summarize(samples, applied, o.seconds);
    std::cout << write_outputs(o.out, title, rows, applied, sum) << "  results: " << o.out << "\n";

    if (o.baselines) {
      if (!url.empty() && !all_in_sync(url, token))
        throw std::runtime_error("the backends did not get back in sync for the baselines");
      if (o.target == "http") {
        // The mixed run replaced about a third of the vectors: the vector
        // store's index holds that many deleted elements, and it compacts
        // the index (a rebuild) at its next maintenance, which would run
        // beside the rows below. The plain clients search and read a
        // freshly loaded set: so do the rows of Lifeline (same ids, same
        // vectors, loaded again into a new collection of the same name).
        auto c = client_for(url, token);
        auto dropped = try_request(c, "DELETE", "/v1/collections/" + collection);
        auto created = try_request(c, "PUT", "/v1/collections/" + collection,
                                   R"({"dimension":)" + std::to_string(data.dimension) + "}");
        if (dropped.status / 100 != 2 || created.status != 201)
          throw std::runtime_error("reloading the collection for the baselines: HTTP "
                                   + std::to_string(dropped.status) + ", " + std::to_string(created.status));
        auto t1 = clock_type::now();
        load_documents(make, data.size(), std::max(2, o.concurrency / 2));
        std::fprintf(stderr, "baselines: reloaded %zu documents in %.1f s\n", data.size(),
                     std::chrono::duration<double>(clock_type::now() - t1).count());
        if (!all_in_sync(url, token))
          throw std::runtime_error("the backends did not get in sync after reloading");
      }
      auto c = o.concurrency;
      auto only = [&](const char* what, const std::function<std::unique_ptr<target>()>& mk) {
        // A discarded warm-up first: caches fill, and a store that was just
        // opened settles (the vector store compacts an index with many
        // replaced vectors once, after the mixed run), as the plain clients'
        // baselines get their index built before they are timed.
        load_config warm{std::min(2.0, o.baseline_seconds), c, 0, op_mix::parse(what), data.size(), 50, o.k, o.seed};
        run_load(warm, data, mk, [](double, uint64_t, uint64_t) {});
        load_config b{o.baseline_seconds, c, 0, op_mix::parse(what), data.size(), 50, o.k, o.seed};
        auto cpu0 = process_cpu_seconds();
        auto busy0 = machine_busy_seconds();
        auto s = run_load(b, data, mk, [](double, uint64_t, uint64_t) {});
        std::vector<float> lat;
        for (auto& x : s) lat.push_back(x.latency_ms);
        // Where the cores went while the row was timed: this process (the
        // HTTP client, or Lifeline in process with the load threads) and
        // the machine (the server, PostgreSQL, anything else).
        char note[80];
        std::snprintf(note, sizeof note, "this process %.2f cores, machine %.2f ",
                      (process_cpu_seconds() - cpu0) / o.baseline_seconds,
                      (machine_busy_seconds() - busy0) / o.baseline_seconds);
        return rate{double(s.size()) / o.baseline_seconds, percentile(lat, 0.99), note};
      };
      std::fprintf(stderr, "baselines: %d threads, %.0f s each\n", c, o.baseline_seconds);
      auto raw_get = raw_libpqxx_get(o.postgres, collection, data.size(), c, o.baseline_seconds);
      auto pgb = pgbench_select(c, o.baseline_seconds);
      auto raw_search = raw_hnswlib_search(data, o.k, c, o.baseline_seconds);
      rate http_get, http_search, in_get, in_search;
      ingest_config ingest{50, c, o.baseline_seconds};
      ingest_rows ingested;
      if (!url.empty()) {
        auto http = [&] { return http_target(url, token, collection, data); };
        http_get = only("get", http);
        http_search = only("search", http);
        // Ingest into a collection of its own: new documents in the read
        // rows' collection made the in-process searches below run on an
        // index three times the plain client's (20 000 documents, plus the
        // 40 000 or so ingested here), twice the work per search.
        auto c2 = client_for(url, token);
        auto made = try_request(c2, "PUT", "/v1/collections/" + collection + "_ingest",
                                R"({"dimension":)" + std::to_string(data.dimension) + "}");
        if (made.status != 201) throw std::runtime_error("creating the ingest collection: HTTP " + std::to_string(made.status));
        ingested.http = target_ingest([&] { return http_target(url, token, collection + "_ingest", data); },
                                      data, ingest, 10'000'000, true);
      }
      // The in-process service takes over the stopped server's data
      // directory: its vector store is then in sync at once, instead of
      // being rebuilt from PostgreSQL while the in-process rows run.
      bool take_over = server != nullptr;
      server.reset(); // one coordinator at a time on these databases
      {
        auto dir = take_over ? o.data_dir : o.data_dir + "/inprocess";
        inprocess_service svc{o.postgres, dir};
        in_get = only("get", [&] { return svc.make_target(collection, data); });
        in_search = only("search", [&] { return svc.make_target(collection, data); });
        if (!svc.create(collection + "_ingest_inprocess", data.dimension))
          throw std::runtime_error("creating the in-process ingest collection failed");
        ingested.inprocess = target_ingest(
          [&] { return svc.make_target(collection + "_ingest_inprocess", data); }, data, ingest,
          20'000'000, false);
      }
      int raw_threads = 2; // the issue's raw baseline: 2 threads (the machine's cores)
      ingested.raw_hnswlib = raw_hnswlib_parallel_insert(data, raw_threads);
      ingested.raw_libpqxx = raw_libpqxx_batch_insert(o.postgres, collection + "_pqxx", data, ingest);
      auto alone = backend_ingest(o.postgres, o.data_dir + "/ingest-alone", collection + "_alone", data, ingest);
      ingested.vectors_alone = alone.vectors;
      ingested.postgres_alone = alone.postgres;
      std::ostringstream t;
      char line[256];
      auto row = [&](const char* op, const char* path, const rate& r, double base) {
        char p99[32] = "      -   ";
        if (r.p99_ms > 0) std::snprintf(p99, sizeof p99, "%7.2f ms", r.p99_ms);
        std::snprintf(line, sizeof line, "  %-7s %-34s %10.0f/s  p99 %s  ratio %s %s\n", op, path,
                      r.per_second, p99, ratio(r.per_second, base).c_str(), r.note.c_str());
        t << line;
      };
      t << "baselines (same run, " << c << " in flight, ratio to the first line of each block):\n";
      row("get", "plain libpqxx (prepared SELECT)", raw_get, raw_get.per_second);
      row("get", "pgbench -S -M prepared", pgb, raw_get.per_second);
      row("get", "coordinator in-process", in_get, raw_get.per_second);
      row("get", "HTTP API", http_get, raw_get.per_second);
      row("search", "plain hnswlib (ef 64)", raw_search, raw_search.per_second);
      row("search", "coordinator in-process", in_search, raw_search.per_second);
      row("search", "HTTP API", http_search, raw_search.per_second);
      t << format_ingest(ingested, ingest, raw_threads);
      std::ofstream{o.out + "/baselines.txt"} << t.str();
      std::cout << t.str();
    }
    return sum.errors_with_a_backend_up == 0 ? 0 : 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lifeline-bench: %s\n", e.what());
    return 2;
  }
}
