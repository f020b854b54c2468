// The `lifeline serve` configuration: a TOML file plus command-line flags
// that override it. Unknown keys and bad values stop start-up with a message
// naming the key.
#pragma once

#include "backends/expected.hpp"
#include "backends/registry.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace lifeline::server {

struct backend_entry {
  std::string name;
  std::string kind;
  int priority = 0; ///< Lower serves first.
  backend_settings settings;
};

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string data_dir = "data";
  /// Handoff logs and the version ceiling; empty means <data_dir>/handoff.
  std::string handoff_dir;
  std::string log_level = "info";
  std::string log_format = "text"; ///< text | json
  std::string token;               ///< Bearer token (from a file or LIFELINE_TOKEN).
  size_t body_limit = 16u << 20;
  size_t max_batch = 1000;
  unsigned http_threads = 2;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds attempt_timeout{1000};
  std::chrono::milliseconds write_grace{1000};
  std::chrono::milliseconds probe_interval{2000};
  std::chrono::milliseconds probe_timeout{1000};
  uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open{5000};
  /// In priority order.
  std::vector<backend_entry> backends;
};

/// Reads the TOML file at `path` (if not empty) into `opts`.
expected<void> load_file(const std::string& path, options& opts);

/// Parses "HOST:PORT".
expected<void> parse_listen(const std::string& text, options& opts);

} // namespace lifeline::server
