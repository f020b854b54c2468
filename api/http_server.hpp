// The HTTP/1.1 server (Boost.Beast, asynchronous, keep-alive): reads a
// request's head, lets http_api screen it (route, token, overload) before
// a byte of its body is read, then reads the body and hands the request to
// http_api. Every phase of a connection has a deadline (keep-alive idle,
// header, body by size), connections are capped below the file-descriptor
// limit so the backends keep theirs, and an accept that fails for want of
// descriptors backs off instead of spinning. A graceful stop finishes the
// requests in flight before it returns.
#pragma once

#include "api/http_api.hpp"
#include "core/expected.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace lifeline::api {

struct server_config {
  std::string host = "127.0.0.1";
  uint16_t port = 8080; ///< 0 picks a free port.
  size_t body_limit = 16u << 20;
  unsigned threads = 2;
  /// Open connections at most; 0 derives it from the file-descriptor limit
  /// (RLIMIT_NOFILE) less `fd_reserve`, capped at 10000.
  uint32_t max_connections = 0;
  /// Descriptors kept for everything but client connections: PostgreSQL
  /// connections, logs, snapshots, CAF.
  uint32_t fd_reserve = 256;
  /// A kept-alive connection may wait this long for its next request.
  std::chrono::milliseconds idle_timeout{30000};
  /// From a request's first byte to the end of its head.
  std::chrono::milliseconds header_timeout{10000};
  /// A body must arrive within body_timeout plus its length at
  /// min_body_rate bytes per second.
  std::chrono::milliseconds body_timeout{10000};
  uint32_t min_body_rate = 256u << 10;
};

/// The connection cap `max_connections` resolves to under the current
/// descriptor limit (for the log and the tests).
uint32_t effective_max_connections(const server_config& cfg);

class http_server {
public:
  http_server(server_config cfg, http_api& api, prometheus_metrics& metrics);
  ~http_server();

  /// Binds and listens; the bound port.
  expected<uint16_t, config_error> listen();
  /// Serves until SIGINT/SIGTERM (or stop()), then stops accepting, lets the
  /// requests in flight finish (at most `drain`) and returns. On return no
  /// thread runs the server's io_context and nothing reaches it any more: a
  /// reply that comes later (from a request still running in the backends)
  /// is dropped, and the connections still waiting for one are closed.
  void run(std::chrono::milliseconds drain = std::chrono::milliseconds(30000));
  void stop();

  struct impl; // public for the sessions in http_session.cpp

private:
  std::unique_ptr<impl> impl_;
};

} // namespace lifeline::api
