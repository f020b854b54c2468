// `lifeline check [--repair]`: asks a running server to compare its backends
// as a job (POST /v1/admin/check), polls the job's status URL (drawing a
// progress bar on a terminal, plain progress lines otherwise) and prints
// its report. No HTTP timeout can cut a long check: each poll is short.
#pragma once

#include <chrono>
#include <string>

namespace lifeline::server {

struct check_options {
  std::string url = "http://127.0.0.1:8080";
  std::string token_file;
  bool repair = false;
  /// Time between two polls of the job's status.
  std::chrono::milliseconds poll_interval{500};
};

/// Returns the process exit code: 0 consistent (or, with repair, every
/// difference found was repaired), 1 differences left, 2 error.
int run_check(const check_options& options);

} // namespace lifeline::server
