// The `lifeline serve` configuration: a TOML file plus command-line flags
// that override it. Unknown keys and bad values stop start-up with a message
// naming the key.
#pragma once

#include "core/expected.hpp"
#include "core/limits.hpp"
#include "backends/registry.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lifeline::server {

struct backend_entry {
  std::string name;
  std::string kind;
  int priority = 0; ///< Lower serves first.
  backend_settings settings;
  /// Overrides options::handoff_limit_mb for this backend.
  std::optional<uint64_t> handoff_limit_mb;
};

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string data_dir = "data";
  /// Handoff logs and the version ceiling; empty means <data_dir>/handoff.
  std::string handoff_dir;
  /// A backend's handoff log past this is dropped (it is rebuilt from a
  /// peer instead); 0: no limit.
  uint64_t handoff_limit_mb = 4096;
  uint64_t handoff_segment_mb = 16;
  /// Free space on the handoff disk below which a warning is logged; 0: none.
  uint64_t disk_free_warn_mb = 1024;
  std::chrono::milliseconds handoff_load_timeout{30000};
  std::string log_level = "info";
  std::string log_format = "text"; ///< text | json
  std::string token;               ///< Bearer token (from a file or LIFELINE_TOKEN).
  std::string token_file;          ///< Where `token` comes from, if a file.
  std::string admin_token;         ///< Token of the admin routes (empty: `token`).
  std::string admin_token_file;
  size_t body_limit = 16u << 20;
  size_t max_batch = default_max_batch;
  unsigned http_threads = 2;
  // -- connection and overload limits (docs/API.md, "Limits") ------------------
  uint32_t max_connections = 0; ///< 0: from the file-descriptor limit.
  uint32_t fd_reserve = 256;
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{10000};
  uint32_t min_body_rate = 256u << 10;
  uint32_t max_in_flight = 1024;         ///< HTTP requests served at once.
  uint32_t backend_max_in_flight = 256;  ///< Calls in flight to one backend.
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds attempt_timeout{1000};
  std::chrono::milliseconds write_grace{1000};
  std::chrono::milliseconds probe_interval{2000};
  /// Background anti-entropy repair: a round every interval (0: never),
  /// comparing at most repair_rate id ranges per second (0: no bound).
  std::chrono::milliseconds repair_interval{600000};
  uint32_t repair_rate = 20;
  std::chrono::milliseconds probe_timeout{1000};
  /// Hedged reads (a slow read also goes to the next in-sync backend),
  /// at most hedge_budget_percent more reads; a backend whose read p95 is
  /// over outlier_factor times its best peer's is tried last (0: never).
  bool hedging = true;
  /// Several nodes (issue 16): this node's name and etcd's endpoints
  /// (`--node`, `--etcd`, or `[cluster] node / etcd`). Empty: one node.
  std::string node;
  std::vector<std::string> etcd;
  /// Where this node listens for its peers (`--cluster-listen`, `[cluster]
  /// listen`, "HOST:PORT", port 0: any free one, announced in etcd), and
  /// the other members' names (`--peers`, `[cluster] peers`).
  std::string cluster_listen;
  std::vector<std::string> peers;
  /// The write leader's lease in etcd (and the version lease under it).
  std::chrono::seconds leader_lease{5};
  uint32_t hedge_budget_percent = 5;
  uint32_t outlier_factor = 5;
  uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_open{5000};
  /// After SIGTERM: how long the requests in flight may finish.
  std::chrono::milliseconds shutdown_drain{30000};
  /// After the drain: how long the backends may take to stop before the
  /// process exits anyway (a call blocked in a backend cannot be cut).
  std::chrono::milliseconds shutdown_grace{5000};
  /// In priority order.
  std::vector<backend_entry> backends;
};

/// Reads the TOML file at `path` (if not empty) into `opts`.
expected<void, config_error> load_file(const std::string& path, options& opts);

/// Reads a token file: trailing white space (a final LF or CR LF) is
/// stripped; an empty token, or white space inside it, is an error.
expected<std::string, config_error> read_token_file(const std::string& path);

/// Parses "HOST:PORT".
expected<void, config_error> parse_listen(const std::string& text, options& opts);

} // namespace lifeline::server
