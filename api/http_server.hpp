// The HTTP/1.1 server (Boost.Beast, asynchronous, keep-alive): reads a
// request, hands it to http_api, writes the reply. Bodies over the limit get
// 413, unparsable requests 400; a graceful stop finishes the requests in
// flight before it returns.
#pragma once

#include "api/http_api.hpp"
#include "backends/expected.hpp"

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
  std::chrono::seconds idle_timeout{60};
};

class http_server {
public:
  http_server(server_config cfg, http_api& api);
  ~http_server();

  /// Binds and listens; the bound port.
  expected<uint16_t> listen();
  /// Serves until SIGINT/SIGTERM (or stop()), then stops accepting, lets the
  /// requests in flight finish (at most `drain`) and returns.
  void run(std::chrono::seconds drain = std::chrono::seconds(30));
  void stop();

  struct impl; // public for the sessions in http_server.cpp

private:
  std::unique_ptr<impl> impl_;
};

} // namespace lifeline::api
