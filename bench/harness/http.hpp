// The server under test: `lifeline serve` as a child process, and the
// project's HTTP client (api/http_client.hpp) set up for the load
// generator's threads, where a request that got no reply is a failed
// sample rather than an exception.
#pragma once

#include "api/http_client.hpp"

#include <string>
#include <vector>

namespace lifeline::bench {

/// A keep-alive client of `url` ("http://HOST:PORT") that sends `token` (if
/// any) as a bearer token. Throws std::runtime_error for a URL it cannot use.
api::http_client client_for(const std::string& url, const std::string& token);

/// One request. No reply at all (refused, reset, timed out) comes back as
/// status 0 instead of an exception: counted as a failed request, never
/// retried here (a retry would hide the failure from the measurement). The
/// next request opens a new connection.
api::http_response try_request(api::http_client& client, std::string method, std::string target,
                               std::string body = {});

/// `lifeline serve --listen 127.0.0.1:0 ARGS...`, stopped (SIGTERM) when
/// destroyed.
class server_child {
public:
  server_child(const std::string& binary, std::vector<std::string> args);
  ~server_child();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int pid() const { return pid_; }

private:
  int pid_ = -1;
  unsigned port_ = 0;
};

} // namespace lifeline::bench
