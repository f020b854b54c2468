// The HTTP server's shared insides, for its two source files only:
// http_server.cpp (listening, accepting, the connection cap, the stop) and
// http_session.cpp (one connection's requests, deadlines and replies). Both
// need the server's state (its config, counters, metrics, io_context and
// the reply gate), so it lives here rather than in the public header,
// which keeps Boost.Asio and prometheus out of every user of http_server.
#pragma once

#include "api/http_server.hpp"
#include "api/reply_gate.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <memory>

namespace prometheus {
class Counter;
class Gauge;
} // namespace prometheus

namespace lifeline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using std::chrono::milliseconds;

// Member order matters for the stop: a connection's destructor touches the
// counters and metrics declared before `io`, and connections may be
// destroyed as late as the io_context's destructor (its queued handlers hold
// them), so those are destroyed after it. `serving` holds connections whose
// request is with the API; it is declared after `io`, so it is emptied first,
// while the io_context still exists.
struct http_server::impl {
  server_config cfg;
  http_api& api;
  uint32_t max_connections;
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  std::atomic<uint32_t> connections{0};
  milliseconds drain{30000};
  // Metrics (owned by the registry).
  prometheus::Gauge* open_connections;
  prometheus::Counter* refused_at_cap;
  prometheus::Counter* refused_no_descriptors;
  prometheus::Counter* timeout_idle;
  prometheus::Counter* timeout_header;
  prometheus::Counter* timeout_body;
  net::io_context io;
  std::shared_ptr<reply_gate> gate = std::make_shared<reply_gate>(io);
  tcp::acceptor acceptor{io};
  net::steady_timer accept_timer{io};
  milliseconds accept_backoff{0};
  net::steady_timer drain_timer{io};
  /// Connections waiting for the API's reply (their only owner then: the
  /// reply callbacks hold them weakly), by address.
  awaiting_reply serving;

  impl(server_config c, http_api& a, prometheus_metrics& m);

  ~impl() { gate->close(); }

  void accept();
  void on_accept_error(const beast::error_code& ec);
  void shed(tcp::socket socket);
};

/// An API response as an HTTP message: the one translation, for the replies
/// sessions write and for the raw reply to a connection shed at the cap.
http::response<http::string_body> to_http(response r, unsigned version, bool keep_alive);

/// Serves the connection on `socket` until it closes (http_session.cpp).
void start_session(tcp::socket socket, http_server::impl& server);

} // namespace lifeline::api
