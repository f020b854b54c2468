// A small synchronous HTTP/1.1 client (Boost.Beast): one keep-alive
// connection to one server, reused from request to request, with every wait
// bounded (connect, and each request from its first byte sent to its last
// byte read). The tests, the benchmark harness and the `lifeline`
// subcommands all talk to a server through it, so that a timeout, a
// keep-alive rule or a header is handled in one place. Beast stays out of
// this header.
//
// A failed request never retries by itself (a retry would hide a failure
// from a test or a measurement, and a POST may not be repeated): it throws
// http_error, closes the connection, and the next request opens a new one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lifeline::api {

/// Header fields, in order; names compare case-insensitively.
using http_headers = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  unsigned status = 0;
  http_headers headers; ///< Names in lower case, as received otherwise.
  std::string body;
  /// The value of the first field named `name` (any case); empty if absent.
  std::string header(std::string_view name) const;
};

struct http_request {
  std::string method = "GET"; ///< Any token: GET, PUT, POST, DELETE, HEAD, ...
  std::string target = "/";
  std::string body;
  /// Sent as they are; Host and Content-Length are set by the client, and
  /// Content-Type is application/json for a body unless set here.
  http_headers headers;
  /// This request's bound; zero takes the client's request_timeout.
  std::chrono::milliseconds timeout{0};
};

struct http_client_options {
  std::chrono::milliseconds connect_timeout{10000};
  /// From the request's first byte written to the reply's last byte read.
  std::chrono::milliseconds request_timeout{60000};
  /// A larger reply body is an error.
  size_t body_limit = 256u << 20;
  /// Sent as "Authorization: Bearer <token>" unless the request sets
  /// Authorization itself; empty sends none.
  std::string bearer_token;
};

/// Why a request got no reply.
class http_error : public std::runtime_error {
public:
  enum class kind {
    connect, ///< Name resolution or the TCP connect failed.
    timeout, ///< connect_timeout or the request's bound passed.
    io,      ///< The connection broke, or the reply was not valid HTTP.
  };
  http_error(kind k, const std::string& what) : std::runtime_error(what), kind_(k) {}
  kind failure() const { return kind_; }

private:
  kind kind_;
};

/// Where a server listens: from "http://HOST:PORT[/...]", "HOST:PORT" or
/// "HOST" (port 80). Only http is spoken: nullopt for another scheme, an
/// empty host or a port outside 1..65535.
struct http_endpoint {
  std::string host;
  uint16_t port = 80;
  static std::optional<http_endpoint> parse(std::string_view url);
};

class http_client {
public:
  http_client(std::string host, uint16_t port, http_client_options options = {});
  explicit http_client(http_endpoint where, http_client_options options = {});
  ~http_client();
  http_client(http_client&&) noexcept;
  http_client& operator=(http_client&&) noexcept;

  /// Sends one request and reads its reply, connecting first if there is no
  /// open connection (or the server closed the kept one while it was idle).
  /// Throws http_error when no reply came; any status is a reply. Throws
  /// std::invalid_argument, before sending anything, for a method, target
  /// or header that would not make one well-formed request (a line break,
  /// a space, a control character).
  http_response send(http_request request);
  http_response request(std::string method, std::string target, std::string body = {},
                        http_headers headers = {});

  /// Closes the connection (the next request opens a new one).
  void close();
  const std::string& host() const;
  uint16_t port() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace lifeline::api
