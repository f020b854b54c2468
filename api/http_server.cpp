#include "api/http_server.hpp"

#include "metrics/log.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <optional>
#include <thread>

namespace lifeline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct http_server::impl {
  server_config cfg;
  http_api& api;
  net::io_context io;
  tcp::acceptor acceptor{io};
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  net::steady_timer drain_timer{io};
  std::chrono::seconds drain{30};

  impl(server_config c, http_api& a) : cfg(std::move(c)), api(a) {}
  void accept();
};

namespace {

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket socket, http_server::impl& server)
    : stream_(std::move(socket)), server_(server) {}

  void start() { read(); }

private:
  void read() {
    if (server_.stopping) return close();
    parser_.emplace();
    parser_->body_limit(server_.cfg.body_limit);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(server_.cfg.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout
        || ec == net::error::operation_aborted || ec == net::error::connection_reset
        || ec == net::error::eof)
      return close();
    if (ec == http::error::body_limit) {
      response r;
      r.status = 413;
      r.content_type = "application/problem+json";
      r.body = R"({"type":"about:blank","title":"Payload too large","status":413,"detail":"the body is over )"
               + std::to_string(server_.cfg.body_limit) + R"( bytes"})";
      keep_alive_ = false;
      ++server_.in_flight;
      return write(std::move(r));
    }
    if (ec) {
      response r;
      r.status = 400;
      r.content_type = "application/problem+json";
      r.body = R"({"type":"about:blank","title":"Bad request","status":400,"detail":"unreadable HTTP request"})";
      keep_alive_ = false;
      ++server_.in_flight;
      return write(std::move(r));
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    version_ = msg.version();
    request req;
    req.method = std::string{msg.method_string()};
    req.target = std::string{msg.target()};
    req.body = std::move(msg.body());
    if (auto it = msg.find(http::field::authorization); it != msg.end())
      req.authorization = std::string{it->value()};
    ++server_.in_flight;
    auto self = shared_from_this();
    server_.api.handle(std::move(req), [self](response r) {
      // The reply may come from an actor thread: write on the socket's executor.
      net::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable { self->write(std::move(r)); });
    });
  }

  void write(response r) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    res->result(r.status);
    res->set(http::field::server, "lifeline");
    res->set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res->set(k, v);
    res->keep_alive(keep_alive_ && !server_.stopping);
    res->body() = std::move(r.body);
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      self->on_written(ec, res->keep_alive());
    });
  }

  void on_written(beast::error_code ec, bool keep_alive) {
    if (--server_.in_flight == 0 && server_.stopping) server_.io.stop(); // drained
    if (ec || !keep_alive) return close();
    read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http_server::impl& server_;
  bool keep_alive_ = false;
  unsigned version_ = 11;
};

} // namespace

void http_server::impl::accept() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping || !acceptor.is_open()) return;
    if (!ec) std::make_shared<session>(std::move(socket), *this)->start();
    accept();
  });
}

http_server::http_server(server_config cfg, http_api& api)
  : impl_(std::make_unique<impl>(std::move(cfg), api)) {}

http_server::~http_server() = default;

expected<uint16_t> http_server::listen() {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->cfg.host, ec);
  if (ec) return backend_error{error_kind::invalid_argument, "bad listen address '" + impl_->cfg.host + "'"};
  tcp::endpoint endpoint{address, impl_->cfg.port};
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return backend_error{error_kind::unavailable, "cannot listen on " + impl_->cfg.host + ":"
                                                    + std::to_string(impl_->cfg.port) + ": " + ec.message()};
  impl_->accept();
  return a.local_endpoint().port();
}

void http_server::run(std::chrono::seconds drain) {
  auto& s = *impl_;
  s.drain = drain;
  net::signal_set signals{s.io, SIGINT, SIGTERM};
  signals.async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    log().info("signal {}: stopping: no new connections, finishing requests in flight", sig);
    stop();
  });
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < std::max(1u, s.cfg.threads); ++i) threads.emplace_back([&s] { s.io.run(); });
  s.io.run();
  for (auto& t : threads) t.join();
}

void http_server::stop() {
  auto& s = *impl_;
  if (s.stopping.exchange(true)) return;
  net::post(s.io, [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    if (s.in_flight == 0) return s.io.stop();
    // Requests in flight get `drain` to finish; then the server goes anyway.
    s.drain_timer.expires_after(s.drain);
    s.drain_timer.async_wait([&s](beast::error_code) { s.io.stop(); });
  });
}

} // namespace lifeline::api
