// GET document and POST search over HTTP (`lifeline serve`, driven by wrk)
// next to the same operations through the coordinator in-process, in one
// run, as ratios. Backends: the vector store first, PostgreSQL second.
//
//   bash scripts/bench.sh lifeline-bench-http [--seconds S] [--connections C]
#include "actors/runtime.hpp"
#include "backends/registry.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <signal.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

using namespace lifeline;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr int docs = 10000;
constexpr uint32_t dim = 128;

struct result {
  double rps = 0, p50_ms = 0, p99_ms = 0;
};

std::vector<float> vec(std::mt19937& rng) {
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  for (auto& x : v) x = g(rng);
  return v;
}

struct loop_state {
  std::vector<double> latencies_ms;
  uint64_t errors = 0;
};

/// Closed loop in-process: `inflight` requests outstanding for `t`.
template <class Reply, class MakeRequest>
result in_process(caf::actor_system& sys, MakeRequest make, int inflight, std::chrono::seconds t) {
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  sys.spawn([=](caf::stateful_actor<loop_state>* d, caf::actor report) {
    auto outstanding = std::make_shared<int>(0);
    auto issue = std::make_shared<std::function<void()>>();
    *issue = [=] {
      if (clock_type::now() - start >= t) {
        if (*outstanding == 0) {
          auto v = d->state.latencies_ms;
          d->send(report, v, d->state.errors);
          d->quit();
        }
        return;
      }
      ++*outstanding;
      auto sent = clock_type::now();
      make(d).then(
        [=](const Reply&) {
          --*outstanding;
          d->state.latencies_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - sent).count());
          (*issue)();
        },
        [=](const caf::error&) { --*outstanding; ++d->state.errors; (*issue)(); });
    };
    for (int i = 0; i < inflight; ++i) (*issue)();
    return caf::behavior{[](caf::unit_t) {}};
  }, caf::actor{self});
  result r;
  self->receive([&](std::vector<double>& lat, uint64_t errors) {
    if (errors) std::fprintf(stderr, "warning: %llu errors\n", (unsigned long long) errors);
    std::sort(lat.begin(), lat.end());
    r.rps = double(lat.size()) / std::chrono::duration<double>(clock_type::now() - start).count();
    r.p50_ms = lat[lat.size() / 2];
    r.p99_ms = lat[lat.size() * 99 / 100];
  });
  return r;
}

double to_ms(const char* text) {
  double v = std::atof(text);
  if (std::strstr(text, "us")) return v / 1000;
  if (std::strstr(text, "ms")) return v;
  if (std::strstr(text, "s")) return v * 1000;
  return v;
}

result run_wrk(const std::string& url, const std::string& script, int connections, int seconds) {
  auto cmd = "wrk -t2 -c" + std::to_string(connections) + " -d" + std::to_string(seconds)
             + "s --latency -s " + script + " " + url + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  result r;
  char line[512];
  while (p && std::fgets(line, sizeof line, p)) {
    char unit[64];
    double v;
    if (std::sscanf(line, " 50%% %63s", unit) == 1) r.p50_ms = to_ms(unit);
    else if (std::sscanf(line, " 99%% %63s", unit) == 1) r.p99_ms = to_ms(unit);
    else if (std::sscanf(line, "Requests/sec: %lf", &v) == 1) r.rps = v;
    else if (std::strstr(line, "Non-2xx")) std::fprintf(stderr, "wrk: %s", line);
  }
  if (p) pclose(p);
  return r;
}

} // namespace

int main(int argc, char** argv) {
  int seconds = 5, connections = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--connections")) connections = std::atoi(argv[i + 1]);
  }
  const char* dsn = std::getenv("LIFELINE_PG_DSN");
  if (!dsn) {
    std::fprintf(stderr, "run through scripts/bench.sh (it starts PostgreSQL)\n");
    return 2;
  }
  auto dir = std::filesystem::temp_directory_path() / ("lifeline-bench-http-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto config = (dir / "lifeline.toml").string();
  std::ofstream{config} << "data_dir = \"" << dir.string() << "\"\n"
                        << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 1\n"
                        << "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\npriority = 2\n"
                        << "conninfo = \"" << dsn << "\"\n";
  std::mt19937 rng{3};
  auto query = vec(rng);
  result get_in, search_in;
  {
    // In-process: the same backends, built by the same registry.
    std::vector<std::pair<std::string, backend_maker>> makers;
    makers.emplace_back("vectors", *find_backend_kind("hnsw")->configure("vectors", {}, dir.string()));
    makers.emplace_back("postgres", *find_backend_kind("postgres")->configure("postgres", {{"conninfo", dsn}}, dir.string()));
    caf::actor_system_config cfg;
    tune_scheduler(cfg);
    caf::actor_system sys{cfg};
    runtime_config rc;
    for (auto& [name, make] : makers) rc.backends.push_back({name, make});
    auto rt = spawn_runtime(sys, rc);
    if (!rt.await_ready(sys)) return 1;
    caf::scoped_actor self{sys};
    auto c = rt.coordinator;
    self->request(c, 30s, drop_atom::value, std::string{"bench"}).receive([](write_receipt&) {}, [](caf::error&) {});
    self->request(c, 30s, create_atom::value, collection_spec{"bench", dim, metric::l2})
      .receive([](write_receipt&) {}, [](caf::error& e) { std::fprintf(stderr, "%s\n", to_string(e).c_str()); });
    std::printf("loading %d documents of dimension %u...\n", docs, dim);
    for (int start = 0; start < docs; start += 500) {
      std::vector<document> batch;
      for (int i = start; i < start + 500; ++i) batch.push_back({"d" + std::to_string(i), vec(rng), "content", "{}", 0});
      self->request(c, 60s, upsert_atom::value, std::string{"bench"}, batch).receive([](write_receipt&) {}, [](caf::error&) {});
    }
    get_in = in_process<served<document>>(sys, [c](caf::event_based_actor* d) {
      static thread_local std::mt19937 r{1};
      return d->request(c, caf::infinite, get_atom::value, std::string{"bench"}, "d" + std::to_string(r() % docs));
    }, connections, std::chrono::seconds(seconds));
    search_in = in_process<served<std::vector<search_hit>>>(sys, [c, query](caf::event_based_actor* d) {
      return d->request(c, caf::infinite, search_atom::value, search_query{"bench", query, 10, 64});
    }, connections, std::chrono::seconds(seconds));
    rt.stop();
  }
  // Over HTTP: the real server on the same data.
  int out[2];
  if (pipe(out) != 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    std::string exe = std::filesystem::path{argv[0]}.parent_path() / "lifeline";
    execl(exe.c_str(), exe.c_str(), "serve", "--config", config.c_str(), "--listen", "127.0.0.1:0",
          "--log-level", "warn", (char*) nullptr);
    _exit(127);
  }
  close(out[1]);
  FILE* in = fdopen(out[0], "r");
  char line[256];
  unsigned port = 0;
  while (!port && std::fgets(line, sizeof line, in))
    std::sscanf(line, "lifeline: listening on http://127.0.0.1:%u", &port);
  if (!port) return 1;
  auto get_lua = (dir / "get.lua").string();
  std::ofstream{get_lua} << "request = function() return wrk.format(\"GET\", "
                            "\"/v1/collections/bench/documents/d\" .. math.random(0, "
                         << docs - 1 << ")) end\n";
  std::string body = "{\"vector\":[";
  for (size_t i = 0; i < query.size(); ++i) body += (i ? "," : "") + std::to_string(query[i]);
  body += "],\"k\":10,\"ef\":64}";
  auto search_lua = (dir / "search.lua").string();
  std::ofstream{search_lua} << "wrk.method = \"POST\"\nwrk.body = '" << body
                            << "'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n";
  auto base = "http://127.0.0.1:" + std::to_string(port);
  auto get_http = run_wrk(base + "/", get_lua, connections, seconds);
  auto search_http = run_wrk(base + "/v1/collections/bench/search", search_lua, connections, seconds);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  std::fclose(in);
  std::filesystem::remove_all(dir);

  std::printf("\n%d requests in flight (in-process) / %d connections (wrk -t2), %d s each\n",
              connections, connections, seconds);
  std::printf("%-34s %12s %9s %9s %14s\n", "path", "requests/s", "p50 ms", "p99 ms", "ratio req/s");
  auto row = [](const char* name, result r, double base_rps) {
    std::printf("%-34s %12.0f %9.3f %9.3f %14.2f\n", name, r.rps, r.p50_ms, r.p99_ms, r.rps / base_rps);
  };
  row("GET document, in-process", get_in, get_in.rps);
  row("GET document, HTTP", get_http, get_in.rps);
  row("POST search, in-process", search_in, search_in.rps);
  row("POST search, HTTP", search_http, search_in.rps);
  return 0;
}
