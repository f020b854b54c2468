// The real `lifeline serve` binary as a child process, and a small HTTP/1.1
// client (Boost.Beast, keep-alive) to talk to it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lifeline::testing {

struct http_reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers; ///< Lower-case names.
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

class http_client {
public:
  explicit http_client(unsigned short port);
  ~http_client();
  http_reply request(const std::string& method, const std::string& target,
                     const std::string& body = {},
                     const std::map<std::string, std::string>& headers = {});
  /// Sends raw bytes and reads one reply (for malformed requests).
  http_reply raw(const std::string& bytes);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

class server_process {
public:
  /// Starts `lifeline serve --listen 127.0.0.1:0 <args>` and waits for its
  /// "listening on" line.
  explicit server_process(std::vector<std::string> args);
  /// SIGTERM, then waits; the exit status is checked by stop().
  ~server_process();
  unsigned short port() const { return port_; }
  /// Graceful stop; returns the exit status (0 expected).
  int stop();
  /// SIGKILL, as a crash or an OOM kill would.
  void kill();

private:
  int pid_ = -1;
  unsigned short port_ = 0;
};

} // namespace lifeline::testing
