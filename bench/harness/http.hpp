// A small blocking HTTP/1.1 client (Boost.Beast, keep-alive) for the load
// generator's threads, and `lifeline serve` as a child process.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace lifeline::bench {

struct http_reply {
  unsigned status = 0; ///< 0: no reply (connection refused or reset).
  std::string served_by;
  std::string body;
};

class http_client {
public:
  /// `base` is "http://HOST:PORT".
  explicit http_client(const std::string& base);
  ~http_client();
  /// Never throws for network errors: they come back as status 0 (and the
  /// next request reconnects).
  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = {}, const std::string& token = {});

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

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
