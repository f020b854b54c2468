// `lifeline serve`: the actor system, the backends, the coordinator and the
// HTTP server in one process.
#include "actors/runtime.hpp"
#include "api/coordinator_client.hpp"
#include "actors/direct_reads.hpp"
#include "api/http_api.hpp"
#include "api/http_server.hpp"
#include "cluster/cluster_runtime.hpp"
#include "cluster/leadership.hpp"
#include "cluster/node_network.hpp"
#include "core/log.hpp"
#include "metrics/prometheus_metrics.hpp"
#include "server/check_command.hpp"
#include "server/status_command.hpp"
#include "server/config.hpp"
#include "server/hard_stop.hpp"
#include "server/json_log.hpp"

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <execinfo.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

/// On a crash, the stack goes to stderr before the process dies (the log is
/// all an operator has of a crash in production).
void print_stack_and_die(int sig) {
  void* frames[64];
  int n = ::backtrace(frames, 64);
  const char head[] = "lifeline: fatal signal, stack:\n";
  (void)!::write(STDERR_FILENO, head, sizeof head - 1);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  ::raise(sig);
}

int fail(const std::string& why) {
  std::cerr << "lifeline: " << why << "\n";
  return 2;
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in{text};
  for (std::string name; std::getline(in, name, ',');)
    if (!name.empty()) out.push_back(name);
  return out;
}

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN); // a peer that goes away is an error code, not a signal
  {
    void* warm[1];
    ::backtrace(warm, 1); // loads what backtrace needs now, not in the handler
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, print_stack_and_die);
  }
  CLI::App app{"Lifeline: documents and vectors served by whichever backend is healthy"};
  app.require_subcommand(1);
  auto* serve = app.add_subcommand("serve", "Run the HTTP/JSON API");
  std::string config_file, listen, data_dir, postgres, backends, log_level, log_format, token_file;
  std::string handoff_dir, node, etcd, cluster_listen, peers;
  int64_t request_timeout_ms = 0, attempt_timeout_ms = 0, pool_size = 0, http_threads = 0;
  int64_t breaker_failures = 0, breaker_open_ms = 0;
  std::string admin_token_file;
  int64_t max_connections = 0, max_in_flight = -1, backend_max_in_flight = -1;
  int64_t idle_timeout_ms = 0, header_timeout_ms = 0, body_timeout_ms = 0;
  serve->add_option("--config", config_file, "TOML configuration file")->check(CLI::ExistingFile);
  serve->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--data-dir", data_dir, "Directory for the vector store (default ./data)");
  serve->add_option("--node", node,
                    "This node's name in a cluster (with --etcd): the write leader is elected among the nodes");
  serve->add_option("--etcd", etcd, "etcd endpoints of the cluster, comma-separated (http://host:port)");
  serve->add_option("--cluster-listen", cluster_listen,
                    "HOST:PORT this node listens on for the other nodes (port 0: any free one; "
                    "announced in etcd)");
  serve->add_option("--peers", peers, "The other nodes of the cluster, comma-separated names");
  serve->add_option("--handoff-dir", handoff_dir,
                    "Directory of the handoff logs: writes a backend missed, kept until it is "
                    "back (default DATA_DIR/handoff)");
  serve->add_option("--postgres", postgres,
                    "libpq connection string of a PostgreSQL backend named 'postgres' (the "
                    "password comes from LIFELINE_PG_PASSWORD_FILE or LIFELINE_PG_PASSWORD)");
  serve->add_option("--backends", backends, "Comma-separated names of the backends to enable");
  serve->add_option("--log-level", log_level, "trace, debug, info, warn, error");
  serve->add_option("--log-format", log_format, "text or json");
  serve->add_option("--token-file", token_file,
                    "File holding the bearer token every route but /v1/health and /metrics "
                    "requires (or set LIFELINE_TOKEN)");
  serve->add_option("--admin-token-file", admin_token_file,
                    "File holding the token the admin routes (/v1/admin/...) require");
  serve->add_option("--max-connections", max_connections,
                    "Open client connections at most (default: from the file-descriptor limit)");
  serve->add_option("--max-in-flight", max_in_flight,
                    "HTTP requests served at once; past it a fast 503 (0: no bound)");
  serve->add_option("--backend-max-in-flight", backend_max_in_flight,
                    "Calls in flight to one backend at most (0: no bound)");
  serve->add_option("--idle-timeout-ms", idle_timeout_ms, "Keep-alive idle timeout");
  serve->add_option("--header-timeout-ms", header_timeout_ms, "Deadline for a request's head");
  serve->add_option("--body-timeout-ms", body_timeout_ms,
                    "Deadline for a request's body (plus its length at min_body_rate_bytes/s)");
  serve->add_option("--request-timeout-ms", request_timeout_ms, "Whole-request deadline");
  serve->add_option("--attempt-timeout-ms", attempt_timeout_ms, "Deadline of one backend attempt");
  serve->add_option("--pool-size", pool_size, "PostgreSQL connections of --postgres");
  serve->add_option("--breaker-failures", breaker_failures,
                    "Consecutive failures that open a backend's circuit");
  serve->add_option("--breaker-open-ms", breaker_open_ms,
                    "How long an open circuit refuses calls before trials");
  serve->add_option("--http-threads", http_threads, "HTTP server threads");
  auto* check = app.add_subcommand(
    "check", "Compare the backends of a running server (exit 0: consistent, or every difference "
             "repaired with --repair; 1: differences; 2: error)");
  server::check_options check_opts;
  check->add_option("--url", check_opts.url, "The server's base URL (default http://127.0.0.1:8080)");
  check->add_option("--token-file", check_opts.token_file, "File holding the bearer token");
  check->add_flag("--repair", check_opts.repair,
                  "Copy the newer version of every difference to the backends that lack it");
  auto* status = app.add_subcommand(
    "status", "Show a running server's backends, cluster and recent fallbacks (exit 0: every "
              "backend serves; 1: degraded; 2: unavailable or unreachable)");
  server::status_options status_opts;
  status->add_option("--url", status_opts.url, "The server's base URL (default http://127.0.0.1:8080)");
  status->add_option("--token-file", status_opts.token_file,
                     "File holding the bearer token (shows the backends' last errors)");
  status->add_flag("--watch", status_opts.watch, "Redraw every second until interrupted");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (check->parsed()) return server::run_check(check_opts);
  if (status->parsed()) return server::run_status(status_opts);

  server::options opts;
  if (!config_file.empty())
    if (auto ok = server::load_file(config_file, opts); !ok) return fail(ok.error().message);
  if (!listen.empty())
    if (auto ok = server::parse_listen(listen, opts); !ok) return fail(ok.error().message);
  if (!data_dir.empty()) opts.data_dir = data_dir;
  if (!handoff_dir.empty()) opts.handoff_dir = handoff_dir;
  if (!node.empty()) opts.node = node;
  if (!etcd.empty()) opts.etcd = split_names(etcd);
  if (!cluster_listen.empty()) opts.cluster_listen = cluster_listen;
  if (!peers.empty()) opts.peers = split_names(peers);
  if (opts.node.empty() != opts.etcd.empty() || opts.node.empty() != opts.cluster_listen.empty())
    return fail("a cluster needs this node's name (--node), etcd's endpoints (--etcd) and the "
                "address it listens on for its peers (--cluster-listen)");
  std::string cluster_host;
  uint16_t cluster_port = 0;
  if (!opts.cluster_listen.empty()) {
    auto colon = opts.cluster_listen.rfind(':');
    auto port = colon == std::string::npos ? -1 : std::atoi(opts.cluster_listen.c_str() + colon + 1);
    if (colon == std::string::npos || colon == 0 || port < 0 || port > 65535
        || opts.cluster_listen.find_first_not_of("0123456789", colon + 1) != std::string::npos)
      return fail("--cluster-listen: HOST:PORT, not '" + opts.cluster_listen + "'");
    cluster_host = opts.cluster_listen.substr(0, colon);
    cluster_port = static_cast<uint16_t>(port);
  }
  if (!opts.node.empty()
      && (opts.node.size() > 64
          || opts.node.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
               != std::string::npos))
    return fail("--node: a name of 1 to 64 letters, digits, '-' or '_', not '" + opts.node + "'");
  for (auto& p : opts.peers)
    if (p.empty() || p.size() > 64 || p == opts.node
        || p.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
             != std::string::npos)
      return fail("--peers: names of 1 to 64 letters, digits, '-' or '_', other than this node's, not '" + p + "'");
  if (opts.handoff_dir.empty()) opts.handoff_dir = opts.data_dir + "/handoff";
  if (!log_level.empty()) opts.log_level = log_level;
  if (!log_format.empty()) opts.log_format = log_format;
  if (request_timeout_ms > 0) opts.request_timeout = std::chrono::milliseconds(request_timeout_ms);
  if (attempt_timeout_ms > 0) opts.attempt_timeout = std::chrono::milliseconds(attempt_timeout_ms);
  if (http_threads > 0) opts.http_threads = unsigned(http_threads);
  if (breaker_failures > 0) opts.breaker_failures = uint32_t(breaker_failures);
  if (breaker_open_ms > 0) opts.breaker_open = std::chrono::milliseconds(breaker_open_ms);
  if (!postgres.empty()) {
    std::erase_if(opts.backends, [](auto& b) { return b.name == "postgres"; });
    server::backend_entry pg{"postgres", "postgres", 0, {{"conninfo", postgres}}};
    if (pool_size > 0) pg.settings["pool_size"] = std::to_string(pool_size);
    opts.backends.insert(opts.backends.begin(), pg);
  }
  if (config_file.empty() && std::none_of(opts.backends.begin(), opts.backends.end(),
                                          [](auto& b) { return b.kind == "hnsw"; }))
    opts.backends.push_back({"vectors", "hnsw", 1, {}});
  if (!backends.empty()) {
    auto wanted = split_names(backends);
    for (auto& w : wanted)
      if (std::none_of(opts.backends.begin(), opts.backends.end(), [&](auto& b) { return b.name == w; }))
        return fail("--backends: no backend named '" + w + "' is configured");
    std::erase_if(opts.backends, [&](auto& b) {
      return std::find(wanted.begin(), wanted.end(), b.name) == wanted.end();
    });
  }
  if (opts.backends.empty()) return fail("no backend configured");
  if (max_connections > 0) opts.max_connections = uint32_t(max_connections);
  if (max_in_flight >= 0) opts.max_in_flight = uint32_t(max_in_flight);
  if (backend_max_in_flight >= 0) opts.backend_max_in_flight = uint32_t(backend_max_in_flight);
  if (idle_timeout_ms > 0) opts.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
  if (header_timeout_ms > 0) opts.header_timeout = std::chrono::milliseconds(header_timeout_ms);
  if (body_timeout_ms > 0) opts.body_timeout = std::chrono::milliseconds(body_timeout_ms);
  // Tokens: an empty one never means "no authentication" (a blank file
  // would otherwise open the server without anyone noticing).
  if (!token_file.empty()) opts.token_file = token_file;
  if (!admin_token_file.empty()) opts.admin_token_file = admin_token_file;
  if (!opts.token_file.empty()) {
    auto t = server::read_token_file(opts.token_file);
    if (!t) return fail(t.error().message);
    opts.token = *t;
  } else if (const char* t = std::getenv("LIFELINE_TOKEN")) {
    opts.token = t;
    if (opts.token.empty()) return fail("LIFELINE_TOKEN is set but empty: refusing to start without authentication");
  }
  if (!opts.admin_token_file.empty()) {
    auto t = server::read_token_file(opts.admin_token_file);
    if (!t) return fail(t.error().message);
    opts.admin_token = *t;
  }

  auto level = spdlog::level::from_str(opts.log_level);
  if (level == spdlog::level::off && opts.log_level != "off")
    return fail("log_level must be one of trace, debug, info, warn, error, off");
  if (opts.log_format != "text" && opts.log_format != "json")
    return fail("log_format must be text or json");
  if (opts.log_format == "json") set_logger(server::make_json_logger());
  log().set_level(level);

  // In a cluster, a node's own stores are its replicas, named after it
  // (`vectors@n1`); PostgreSQL is shared by every node.
  if (!opts.node.empty())
    for (auto& b : opts.backends)
      if (b.kind != "postgres") b.name += "@" + opts.node;
  // The backends' makers live longer than the actor system that uses them.
  std::vector<std::pair<server::backend_entry, backend_maker>> makers;
  std::map<std::string, uint32_t> max_in_flight_of;
  for (auto& b : opts.backends) {
    // A coordinator setting, not the backend kind's.
    if (auto it = b.settings.find("max_in_flight"); it != b.settings.end()) {
      auto n = std::strtoll(it->second.c_str(), nullptr, 10);
      if (n < 0 || n > 1000000 || it->second.find_first_not_of("0123456789") != std::string::npos)
        return fail("backend '" + b.name + "': max_in_flight must be an integer from 0 to 1000000");
      max_in_flight_of[b.name] = uint32_t(n);
      b.settings.erase(it);
    }
    auto made = find_backend_kind(b.kind)->configure(b.name, b.settings, opts.data_dir);
    if (!made) return fail(made.error().message);
    makers.emplace_back(b, *made);
  }

  // Declared before the actor system, so that they outlive it: the metrics
  // (a late reply callback records into them) and the bound on the stop
  // (the actor system's destructor is what may block).
  auto metrics = std::make_shared<prometheus_metrics>();
  std::optional<server::hard_stop> hard_stop;
  caf::actor_system_config cfg;
  tune_scheduler(cfg);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  if (!opts.node.empty()) cluster::configure_network(cfg);
  caf::actor_system sys{cfg};
  runtime_config rc;
  for (auto& [b, make] : makers) {
    rc.backends.push_back({b.name, make});
    if (auto it = max_in_flight_of.find(b.name); it != max_in_flight_of.end())
      rc.backends.back().max_in_flight = it->second;
  }
  rc.coordinator.backend_max_in_flight = opts.backend_max_in_flight;
  rc.coordinator.request_timeout = opts.request_timeout;
  rc.coordinator.attempt_timeout = opts.attempt_timeout;
  rc.coordinator.write_grace = opts.write_grace;
  rc.coordinator.probe_interval = opts.probe_interval;
  rc.coordinator.repair_interval = opts.repair_interval;
  rc.coordinator.repair_rate = opts.repair_rate;
  rc.coordinator.probe_timeout = opts.probe_timeout;
  rc.coordinator.hedging = opts.hedging;
  rc.coordinator.hedge_budget_percent = opts.hedge_budget_percent;
  rc.coordinator.outliers.factor = opts.outlier_factor;
  rc.coordinator.circuit.consecutive_failures = opts.breaker_failures;
  rc.coordinator.circuit.open_duration = opts.breaker_open;
  rc.coordinator.handoff_dir = opts.handoff_dir;
  rc.coordinator.handoff_limit_bytes = opts.handoff_limit_mb << 20;
  for (auto& [b, make] : makers)
    if (b.handoff_limit_mb) rc.coordinator.handoff_limit_of[b.name] = *b.handoff_limit_mb << 20;
  rc.coordinator.handoff_segment_bytes = opts.handoff_segment_mb << 20;
  rc.coordinator.disk_free_warn_bytes = opts.disk_free_warn_mb << 20;
  rc.coordinator.handoff_load_timeout = opts.handoff_load_timeout;
  rc.metrics = metrics;
  // Several nodes: the write leader is elected in etcd and fans writes out
  // to every node's replicas (cluster/cluster_runtime.hpp).
  std::shared_ptr<cluster::cluster_view> cluster_view;
  runtime rt;
  if (!opts.node.empty()) {
    cluster_view = std::make_shared<cluster::cluster_view>(opts.peers);
    cluster::node_config nc;
    nc.cluster = cluster::cluster_config{opts.node, opts.etcd, "/lifeline", opts.leader_lease};
    nc.cluster.peers = opts.peers;
    nc.listen_host = cluster_host;
    nc.listen_port = cluster_port;
    rc.coordinator.version_lease = opts.leader_lease;
    // Half the leader lease: a new leader waits out its predecessor's
    // leases within its own first lease (coordinator_leases.cpp).
    rc.coordinator.read_lease = std::chrono::milliseconds{opts.leader_lease} / 2;
    auto joined = [](const std::vector<std::string>& xs, const char* sep) {
      std::string out;
      for (auto& x : xs) out += (out.empty() ? "" : sep) + x;
      return out;
    };
    log().info("cluster: node {}, peers [{}], etcd {}", opts.node, joined(opts.peers, ", "),
               joined(opts.etcd, ","));
    auto started = cluster::spawn_cluster_runtime(sys, std::move(rc), nc, cluster_view);
    if (!started) return fail("--cluster-listen " + opts.cluster_listen + ": " + caf::to_string(started.error()));
    rt = std::move(*started);
  } else {
    rt = spawn_runtime(sys, std::move(rc));
  }
  // Ready once every backend has reported and replayed its handoff log
  // (each replay call has its own deadline, so this does not hang).
  if (!rt.await_ready(sys, std::chrono::hours(1))) return fail("the backends did not report in time");
  // The stop, in order (each step makes the next one safe):
  //  1. SIGTERM or SIGINT: the server stops accepting; the requests in
  //     flight get shutdown_drain_ms to finish; a request read meanwhile,
  //     even one whose read began before the signal, gets 503.
  //  2. server.run() returns: no thread runs the io_context any more. Its
  //     gate is closed: a reply that comes later (a request still running in
  //     the backends) is dropped where it comes. The connections still
  //     waiting for a reply are closed, on this thread.
  //  3. The bridge actor is stopped and joined (5 s at most): the reply
  //     callbacks it held go with it. They hold the API's state (shared) and
  //     their connection only weakly, so wherever one runs or is destroyed,
  //     late, it touches nothing that is gone.
  //  4. The server (its io_context and connections) and the API go.
  //  5. The hard stop is armed and the runtime stopped; the actor system's
  //     destructor waits for every actor. A worker blocked in a backend call
  //     may never end: past shutdown_grace_ms the process logs the busy
  //     backends and exits 0 anyway (server/hard_stop.hpp). So a stop takes
  //     at most shutdown_drain_ms + shutdown_grace_ms (35 s by default).
  //     Unacknowledged writes stay unacknowledged; acknowledged ones are
  //     already durable (applied, or in a handoff log, before the reply).
  int rc_code = 0;
  {
    coordinator_client client{sys, rt.coordinator};
    api::api_config acfg;
    acfg.bearer_token = opts.token;
    acfg.admin_token = opts.admin_token;
    acfg.max_in_flight = opts.max_in_flight;
    acfg.max_batch = opts.max_batch;
    acfg.timeout = opts.request_timeout + 1s;
    if (cluster_view) acfg.cluster_health = [cluster_view] { return cluster::health_json(cluster_view->get()); };
    // Gets and searches follow the coordinator's routing snapshot directly
    // (no mailbox on the way); what it does not settle goes to the
    // coordinator through the client's bridge.
    direct_reads reads{rt.routes, [&client](direct_reads::job j) { client.submit(std::move(j)); },
                       acfg.timeout};
    api::http_api http{client, *metrics, acfg, &reads};
    api::server_config scfg;
    scfg.host = opts.host;
    scfg.port = opts.port;
    scfg.body_limit = opts.body_limit;
    scfg.threads = opts.http_threads;
    scfg.max_connections = opts.max_connections;
    scfg.fd_reserve = opts.fd_reserve;
    scfg.idle_timeout = opts.idle_timeout;
    scfg.header_timeout = opts.header_timeout;
    scfg.body_timeout = opts.body_timeout;
    scfg.min_body_rate = opts.min_body_rate;
    api::http_server server{scfg, http, *metrics};
    auto port = server.listen();
    if (!port) {
      rc_code = fail(port.error().message);
    } else {
      std::printf("lifeline: listening on http://%s:%u\n", opts.host.c_str(), unsigned(*port));
      std::fflush(stdout);
      log().info("listening on http://{}:{} with backends {}", opts.host, *port, [&] {
        std::string names;
        for (auto& [b, m] : makers) names += (names.empty() ? "" : ", ") + b.name + " (" + b.kind + ")";
        return names;
      }());
      server.run(opts.shutdown_drain);
      // The stop is under way, and bounded: a second signal does not cut it
      // short (its signal set is gone, so it would kill the process).
      std::signal(SIGTERM, SIG_IGN);
      std::signal(SIGINT, SIG_IGN);
      reads.stop();
      client.stop();
      log().info("stop: stopped serving; stopping the backends ({} ms at most)",
                 opts.shutdown_grace.count());
    }
  }
  hard_stop.emplace(opts.shutdown_grace);
  rt.stop();
  return rc_code;
}
