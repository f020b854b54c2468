// `lifeline status [--url U] [--token-file F] [--watch]`: the status page in
// a terminal. Reads GET /v1/status and prints the overall state, a table of
// the backends (colours on a terminal), the cluster, and the events of the
// last minute; --watch redraws it every second until interrupted.
#pragma once

#include <chrono>
#include <string>

namespace lifeline::server {

struct status_options {
  std::string url = "http://127.0.0.1:8080";
  std::string token_file;
  bool watch = false;
  std::chrono::milliseconds interval{1000}; ///< Between two redraws (--watch).
};

/// Returns the process exit code: 0 every backend serves, 1 degraded, 2 no
/// backend serves or the server cannot be reached (with --watch: of the
/// last view, once interrupted).
int run_status(const status_options& options);

} // namespace lifeline::server
