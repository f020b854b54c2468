// The real `lifeline serve` binary as a child process; the tests talk to it
// through the project's HTTP client (api/http_client.hpp).
#pragma once

#include "api/http_client.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace lifeline::testing {

using api::http_client;
using api::http_headers;
using api::http_response;

/// A client of a server on this machine (the tests' servers listen on
/// 127.0.0.1).
http_client local_client(unsigned short port);

/// How the server process is started, beyond its arguments.
struct process_options {
  /// RLIMIT_NOFILE (soft and hard) of the server; 0 leaves it as it is.
  unsigned long max_files = 0;
};

class server_process {
public:
  /// Starts `lifeline serve --listen 127.0.0.1:0 <args>` and waits for its
  /// "listening on" line.
  explicit server_process(std::vector<std::string> args, process_options options = {});
  /// SIGTERM, then waits; the exit status is checked by stop().
  ~server_process();
  unsigned short port() const { return port_; }
  int pid() const { return pid_; }
  /// Graceful stop; returns the exit status (0 expected).
  int stop();
  /// SIGTERM, then waits `bound` at most for the exit: its status, or
  /// nullopt if the server was still running then (it is killed, so that a
  /// hung stop fails the test instead of blocking it).
  std::optional<int> stop_within(std::chrono::seconds bound);
  /// SIGKILL, as a crash or an OOM kill would.
  void kill();

private:
  int pid_ = -1;
  unsigned short port_ = 0;
};

/// Runs `lifeline serve --listen 127.0.0.1:0 <args>` expecting it to refuse
/// to start: its exit status and what it printed (stdout and stderr). A
/// server that starts anyway is stopped after `bound`.
struct start_failure {
  int status = 0;
  std::string output;
};
start_failure run_server_expecting_failure(std::vector<std::string> args, unsigned bound_seconds = 60);

} // namespace lifeline::testing
