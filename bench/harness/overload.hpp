// The overload scenario (--scenario overload): what admission control
// (max_in_flight, backend_max_in_flight) does when more arrives than the
// server can serve. In one run, against one server and one workload mix:
//
//   warm-up    closed loop, discarded
//   capacity   closed loop, `capacity_concurrency` requests in flight: C = 2xx/s
//   overload   open loop at overload_factor x C (fixed arrival schedule)
//   recovery   open loop at recovery_factor x C, right after the overload
//   check      `check_requests` sequential requests: the server answers normally
//
// The load runs on one asynchronous client thread (Boost.Asio) with as many
// keep-alive connections as it needs (up to `max_connections`), so arrivals
// never wait for replies; open-loop latency runs from the time a request was
// due (no coordinated omission). Every reply is classified: 2xx and correct,
// shed (503 whose title is "Overloaded", with Retry-After), or an error
// (anything else, a wrong 2xx body, a connection error or a timeout).
// Server RSS and CPU (from /proc/<pid>) and its shed counters (/metrics) are
// sampled every second.
#pragma once

#include "harness/dataset.hpp"
#include "harness/workload.hpp"

#include <string>

namespace lifeline::bench {

struct overload_config {
  std::string url, token, collection, out, title;
  int server_pid = -1;        ///< -1: not started by the harness (no RSS, no server CPU).
  std::string server_limits;  ///< The limits the server runs with, as flags, for the output.
  op_mix mix;
  size_t docs = 0;
  uint32_t k = 10, batch = 50;
  uint64_t seed = 1;
  double warmup_s = 2, capacity_s = 10, overload_s = 20, recovery_s = 10;
  double overload_factor = 2, recovery_factor = 0.5;
  int capacity_concurrency = 64;
  int max_connections = 1024;
  int check_requests = 200;
  double request_timeout_s = 30;
};

/// Runs the scenario, writes summary.txt, summary.json, per_second.csv,
/// per_second.json and plot.png into cfg.out, prints the summary. Returns 0
/// if there was no error other than sheds, no wrong reply, and the check
/// after the run passed; 3 otherwise.
int run_overload(const overload_config& cfg, const dataset& data);

} // namespace lifeline::bench
