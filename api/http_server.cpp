#include "api/http_server.hpp"

#include "core/log.hpp"
#include "metrics/prometheus_metrics.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

namespace lifeline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using std::chrono::milliseconds;

uint32_t effective_max_connections(const server_config& cfg) {
  if (cfg.max_connections > 0) return cfg.max_connections;
  rlimit rl{};
  uint64_t limit = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
    limit = rl.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : uint64_t(rl.rlim_cur);
  uint64_t cap = limit > uint64_t{cfg.fd_reserve} + 16 ? limit - cfg.fd_reserve : std::max<uint64_t>(limit / 2, 1);
  return uint32_t(std::min<uint64_t>(cap, 10000));
}

/// The way a reply computed on another thread (an actor's) reaches the
/// io_context: open while the io_context can take work, closed (for good)
/// once the server stops running it. A reply that comes later is dropped
/// where it comes, and holds nothing of the server: the callbacks hold the
/// gate (shared) and a weak reference to their connection, never the
/// connection itself nor a strand of the io_context.
class reply_gate {
public:
  explicit reply_gate(net::io_context& io) : io_(&io) {}

  /// Posts `f` to the io_context if it is still served; else drops it.
  template <class F>
  void post(F&& f) {
    std::lock_guard lock{mutex_};
    if (io_) net::post(*io_, std::forward<F>(f));
  }

  void close() {
    std::lock_guard lock{mutex_};
    io_ = nullptr;
  }

private:
  std::mutex mutex_;
  net::io_context* io_;
};

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
  std::mutex serving_mutex;
  std::unordered_map<const void*, std::shared_ptr<void>> serving;

  impl(server_config c, http_api& a, prometheus_metrics& m)
    : cfg(std::move(c)), api(a), max_connections(effective_max_connections(cfg)) {
    auto& reg = m.registry();
    open_connections = &prometheus::BuildGauge()
                          .Name("lifeline_http_connections")
                          .Help("Open client connections.")
                          .Register(reg)
                          .Add({});
    auto& refused = prometheus::BuildCounter()
                      .Name("lifeline_http_connections_refused_total")
                      .Help("Connections closed at once: at the connection cap, or accept found no free file descriptor.")
                      .Register(reg);
    refused_at_cap = &refused.Add({{"reason", "connection_cap"}});
    refused_no_descriptors = &refused.Add({{"reason", "no_descriptors"}});
    auto& timeouts = prometheus::BuildCounter()
                       .Name("lifeline_http_timeouts_total")
                       .Help("Connections closed by a deadline: keep-alive idle, request head, or body.")
                       .Register(reg);
    timeout_idle = &timeouts.Add({{"phase", "idle"}});
    timeout_header = &timeouts.Add({{"phase", "header"}});
    timeout_body = &timeouts.Add({{"phase", "body"}});
  }

  ~impl() { gate->close(); }

  void accept();
  void on_accept_error(const beast::error_code& ec);
  void shed(tcp::socket socket);

  void hold(const void* key, std::shared_ptr<void> connection) {
    std::lock_guard lock{serving_mutex};
    serving.emplace(key, std::move(connection));
  }
  void release(const void* key) {
    std::shared_ptr<void> last; // destroyed outside the lock
    std::lock_guard lock{serving_mutex};
    if (auto it = serving.find(key); it != serving.end()) {
      last = std::move(it->second);
      serving.erase(it);
    }
  }
  /// After the io_context stopped: closes the connections still waiting for
  /// a reply, here, while the io_context exists. Returns how many.
  size_t drop_serving() {
    std::unordered_map<const void*, std::shared_ptr<void>> left;
    {
      std::lock_guard lock{serving_mutex};
      left.swap(serving);
    }
    return left.size();
  }
};

namespace {

/// An API response as an HTTP message: the one translation, for the replies
/// sessions write and for the raw reply to a connection shed at the cap.
http::response<http::string_body> to_http(response r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res;
  res.version(version);
  res.result(r.status);
  res.set(http::field::server, "lifeline");
  res.set(http::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

bool is_disconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::operation_aborted
         || ec == net::error::connection_reset || ec == net::error::eof || ec == net::error::broken_pipe;
}

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, http_server::impl& server)
    : stream_(std::move(socket)), server_(server) {
    ++server_.connections;
    server_.open_connections->Increment();
  }

  ~session() {
    --server_.connections;
    server_.open_connections->Decrement();
  }

  void start() { wait_for_request(); }

private:
  /// Keep-alive: waits (idle_timeout at most) for the next request's first
  /// byte, then reads its head under the header deadline.
  void wait_for_request() {
    if (server_.stopping) return close();
    if (buffer_.size() > 0) return read_header(); // pipelined
    stream_.expires_after(server_.cfg.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->buffer_.commit(n);
      if (ec == beast::error::timeout) self->server_.timeout_idle->Increment();
      if (ec) return self->close();
      self->read_header();
    });
  }

  /// The header and body deadlines cancel the read but keep the socket
  /// (a tcp_stream timeout would close it), so that the client hears 408.
  void arm(milliseconds timeout) {
    timed_out_ = false;
    stream_.expires_never();
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return; // disarmed
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  /// True if the read that just ended was cut by the deadline.
  bool disarm(const beast::error_code& ec) {
    deadline_.cancel();
    return ec == net::error::operation_aborted && timed_out_;
  }

  void read_header() {
    parser_.emplace();
    parser_->body_limit(server_.cfg.body_limit);
    parser_->header_limit(64 * 1024);
    arm(server_.cfg.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  /// Ends a read that failed (deadline, disconnect, limits, garbage) with
  /// the right reply or a close; false if the read succeeded.
  bool failed(const beast::error_code& ec, prometheus::Counter& timeouts, const char* part) {
    if (disarm(ec)) {
      timeouts.Increment();
      refuse(problem(408, "Request timeout", std::string{"the request's "} + part + " did not arrive in time"));
    } else if (is_disconnect(ec)) {
      close();
    } else if (ec == http::error::body_limit) {
      refuse(too_large());
    } else if (ec == http::error::header_limit) {
      refuse(problem(431, "Request header fields too large", "the request's head is over 64 KiB"));
    } else if (ec) {
      refuse(problem(400, "Bad request", "unreadable HTTP request"));
    } else {
      return false;
    }
    return true;
  }

  void on_header(beast::error_code ec) {
    if (failed(ec, *server_.timeout_header, "head")) return;
    auto& head = parser_->get();
    version_ = head.version();
    request_.method = std::string{head.method_string()};
    request_.target = std::string{head.target()};
    if (auto it = head.find(http::field::authorization); it != head.end())
      request_.authorization = std::string{it->value()};
    if (server_.stopping) {
      auto r = problem(503, "Shutting down", "the server is stopping");
      r.headers.emplace_back("Retry-After", "1");
      return refuse(std::move(r));
    }
    screened_ = server_.api.screen(request_);
    if (screened_.refusal) {
      // Refused from its head: its body is never read, so the connection
      // can only go on if there is none.
      unread_body_ = !parser_->is_done();
      keep_alive_ = !unread_body_ && head.keep_alive();
      if (!admit()) return;
      return server_.api.serve(std::move(screened_), std::move(request_), reply_later());
    }
    auto expect = head[http::field::expect];
    if (!parser_->is_done() && beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(server_.cfg.header_timeout);
      return net::async_write(stream_, net::buffer(go_on.data(), go_on.size()),
                              [self = shared_from_this()](beast::error_code ec, size_t) {
                                if (ec) return self->close();
                                self->read_body();
                              });
    }
    read_body();
  }

  /// The body gets body_timeout plus its length at min_body_rate.
  void read_body() {
    auto& c = server_.cfg;
    auto length = parser_->content_length().value_or(c.body_limit);
    arm(c.body_timeout + milliseconds(length * 1000 / std::max<uint32_t>(c.min_body_rate, 1)));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (failed(ec, *server_.timeout_body, "body")) return;
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    request_.body = std::move(msg.body());
    if (!admit()) return;
    server_.api.serve(std::move(screened_), std::move(request_), reply_later());
  }

  /// Counts the request in flight (a stop waits for it from here on), unless
  /// the server is stopping: a read that began before the stop and ended
  /// after it gets 503, not a place in a drain that already began. Counting
  /// first and checking after pairs with stop(), which sets `stopping` first
  /// and checks the count after: one of the two sees the other.
  bool admit() {
    ++server_.in_flight;
    if (!server_.stopping) return true;
    screened_ = {}; // gives its place in the API back
    auto r = problem(503, "Shutting down", "the server is stopping");
    r.headers.emplace_back("Retry-After", "1");
    keep_alive_ = false;
    unread_body_ = true;
    write(std::move(r));
    return false;
  }

  /// The reply may come from an actor thread, and late (after the server
  /// stopped): it goes through the gate to the io_context, then to this
  /// connection's strand, if both are still there. Until then the server
  /// holds the connection (`serving`); the callback holds it weakly, so
  /// wherever its last copy is destroyed, it destroys no connection.
  http_api::reply_fn reply_later() {
    server_.hold(this, shared_from_this());
    return [gate = server_.gate, weak = weak_from_this()](response r) {
      gate->post([weak, r = std::move(r)]() mutable {
        auto self = weak.lock();
        if (!self) return;
        auto ex = self->stream_.get_executor();
        net::dispatch(ex, [self = std::move(self), r = std::move(r)]() mutable { self->write(std::move(r)); });
      });
    };
  }

  response too_large() const {
    return problem(413, "Payload too large", "the body is over " + std::to_string(server_.cfg.body_limit) + " bytes");
  }

  /// A transport-level refusal: reply, then close.
  void refuse(response r) {
    keep_alive_ = false;
    unread_body_ = true;
    ++server_.in_flight;
    write(std::move(r));
  }

  void write(response r) {
    server_.release(this); // the async_write below holds it now
    auto res = std::make_shared<http::response<http::string_body>>(
      to_http(std::move(r), version_, keep_alive_ && !server_.stopping));
    // A reader that does not read gets no more than the header deadline.
    stream_.expires_after(server_.cfg.header_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      self->on_written(ec, res->keep_alive());
    });
  }

  void on_written(beast::error_code ec, bool keep_alive) {
    if (--server_.in_flight == 0 && server_.stopping) {
      log().info("stop: every request in flight answered");
      server_.io.stop(); // drained
    }
    if (!ec && !keep_alive && unread_body_) return linger_close();
    if (ec || !keep_alive) return close();
    request_ = {};
    wait_for_request();
  }

  /// Closing a socket with unread input sends a reset, which can destroy
  /// the reply before the client reads it. So after a refusal that left the
  /// body unread: stop sending, drain what the client still sends (1 s and
  /// 1 MiB at most, never processed), then close.
  void linger_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(1));
    drain_some();
  }

  void drain_some() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(64 * 1024), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ >= (1u << 20)) return self->close();
      self->drain_some();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  net::steady_timer deadline_{stream_.get_executor()};
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http_server::impl& server_;
  request request_;
  screened screened_;
  bool keep_alive_ = false;
  bool unread_body_ = false; ///< The request's body was not read (refused).
  size_t drained_ = 0;
  unsigned version_ = 11;
};

} // namespace

void http_server::impl::accept() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping || !acceptor.is_open()) return;
    if (ec) return on_accept_error(ec);
    accept_backoff = milliseconds(0);
    if (connections.load(std::memory_order_relaxed) >= max_connections) shed(std::move(socket));
    else std::make_shared<session>(std::move(socket), *this)->start();
    accept();
  });
}

/// Out of descriptors (or memory), accept fails at once for as long as it
/// lasts: retrying at once would spin a core. Back off, doubling up to 1 s;
/// the connections waiting meanwhile stay in the listen backlog.
void http_server::impl::on_accept_error(const beast::error_code& ec) {
  if (ec == net::error::operation_aborted) return;
  if (ec == net::error::connection_aborted) return accept(); // the peer gave up first
  if (accept_backoff == milliseconds(0))
    log().warn("http: accept failed ({}); backing off (open connections {}, cap {})", ec.message(),
               connections.load(), max_connections);
  if (ec == net::error::no_descriptors || ec.value() == ENFILE) refused_no_descriptors->Increment();
  accept_backoff = std::clamp(accept_backoff * 2, milliseconds(10), milliseconds(1000));
  accept_timer.expires_after(accept_backoff);
  accept_timer.async_wait([this](beast::error_code e) {
    if (!e && !stopping) accept();
  });
}

/// At the connection cap: a fast 503 and close, without reading anything.
void http_server::impl::shed(tcp::socket socket) {
  refused_at_cap->Increment();
  // Built once, by the same problem() and to_http() as every other reply.
  static const std::string reply = [] {
    auto r = problem(503, "Overloaded", "too many open connections; retry later");
    r.headers.emplace_back("Retry-After", "1");
    std::ostringstream out;
    out << to_http(std::move(r), 11, false);
    return out.str();
  }();
  beast::error_code ignored;
  socket.non_blocking(true, ignored); // a fresh socket's send buffer takes it at once
  socket.write_some(net::buffer(reply), ignored);
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

http_server::http_server(server_config cfg, http_api& api, prometheus_metrics& metrics)
  : impl_(std::make_unique<impl>(std::move(cfg), api, metrics)) {}

http_server::~http_server() = default;

expected<uint16_t, config_error> http_server::listen() {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->cfg.host, ec);
  if (ec) return config_error{"bad listen address '" + impl_->cfg.host + "'"};
  tcp::endpoint endpoint{address, impl_->cfg.port};
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return config_error{"cannot listen on " + impl_->cfg.host + ":"
                                                    + std::to_string(impl_->cfg.port) + ": " + ec.message()};
  log().info("http: at most {} open connections", impl_->max_connections);
  impl_->accept();
  return a.local_endpoint().port();
}

void http_server::run(milliseconds drain) {
  auto& s = *impl_;
  s.drain = drain;
  net::signal_set signals{s.io, SIGINT, SIGTERM};
  signals.async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    log().info("signal {}: stopping: no new connections, finishing the {} requests in flight "
               "(for {} ms at most)",
               sig, impl_->in_flight.load(), impl_->drain.count());
    stop();
  });
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < std::max(1u, s.cfg.threads); ++i) threads.emplace_back([&s] { s.io.run(); });
  s.io.run();
  for (auto& t : threads) t.join();
  // No thread runs the io_context any more. Replies that come from now on
  // are dropped at the gate; the connections still waiting for one close
  // here, on this thread, while the io_context exists.
  s.gate->close();
  if (auto cut = s.drop_serving(); cut > 0)
    log().warn("stop: {} requests still in flight after the {} ms drain: their connections are "
               "closed without a reply (a write among them may or may not have been applied; "
               "it was not acknowledged)",
               cut, s.drain.count());
}

void http_server::stop() {
  auto& s = *impl_;
  if (s.stopping.exchange(true)) return;
  net::post(s.io, [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    s.accept_timer.cancel();
    if (s.in_flight == 0) return s.io.stop();
    // Requests in flight get `drain` to finish; then the server goes anyway.
    s.drain_timer.expires_after(s.drain);
    s.drain_timer.async_wait([&s](beast::error_code ec) {
      if (ec) return;
      log().warn("stop: the {} ms drain is over with {} requests in flight", s.drain.count(),
                 s.in_flight.load());
      s.io.stop();
    });
  });
}

} // namespace lifeline::api
