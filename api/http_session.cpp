// One client connection: keep-alive, a request's head read and screened
// by http_api before its body, every phase under its deadline, the reply
// written back (from whichever thread computed it, through the reply gate)
// and the refusals (408, 413, 431, 503) that end a connection cleanly.
// Split from http_server.cpp, which accepts connections, caps them and
// stops the server; this file is what happens on one of them.
#include "api/http_server_impl.hpp"

#include "core/log.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace lifeline::api {

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

namespace {

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
    head_request_ = head.method() == http::verb::head;
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
    server_.serving.hold(this, shared_from_this());
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
    // The reply lives in the session (one write at a time per connection),
    // not in a shared_ptr of its own per request.
    res_ = to_http(std::move(r), version_, keep_alive_ && !server_.stopping);
    if (head_request_) {
      // A reply to HEAD has the headers a GET's would have and no body
      // (RFC 9110 9.3.2): a body would be read as the next reply.
      auto length = res_.body().size();
      res_.body().clear();
      res_.content_length(length);
    }
    auto self = shared_from_this(); // before release: the async_write below holds it now
    server_.serving.release(this);
    // A reader that does not read gets no more than the header deadline.
    stream_.expires_after(server_.cfg.header_timeout);
    http::async_write(stream_, res_, [self = std::move(self)](beast::error_code ec, size_t) {
      self->on_written(ec, self->res_.keep_alive());
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
    head_request_ = false;
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
  http::response<http::string_body> res_; ///< The reply being written.
  http_server::impl& server_;
  request request_;
  bool head_request_ = false; ///< The request being answered is a HEAD.
  screened screened_;
  bool keep_alive_ = false;
  bool unread_body_ = false; ///< The request's body was not read (refused).
  size_t drained_ = 0;
  unsigned version_ = 11;
};

} // namespace

void start_session(tcp::socket socket, http_server::impl& server) {
  std::make_shared<session>(std::move(socket), server)->start();
}

} // namespace lifeline::api
