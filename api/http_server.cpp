// Listening, accepting (with the connection cap and the back-off when
// descriptors run out) and the graceful stop. One connection's requests
// are served by http_session.cpp; replies from other threads come back
// through reply_gate.hpp.
#include "api/http_server_impl.hpp"

#include "core/log.hpp"
#include "metrics/prometheus_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
#include <sstream>
#include <thread>

namespace lifeline::api {

uint32_t effective_max_connections(const server_config& cfg) {
  if (cfg.max_connections > 0) return cfg.max_connections;
  rlimit rl{};
  uint64_t limit = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0)
    limit = rl.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : uint64_t(rl.rlim_cur);
  uint64_t cap = limit > uint64_t{cfg.fd_reserve} + 16 ? limit - cfg.fd_reserve : std::max<uint64_t>(limit / 2, 1);
  return uint32_t(std::min<uint64_t>(cap, 10000));
}

http_server::impl::impl(server_config c, http_api& a, prometheus_metrics& m)
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

void http_server::impl::accept() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping || !acceptor.is_open()) return;
    if (ec) return on_accept_error(ec);
    accept_backoff = milliseconds(0);
    if (connections.load(std::memory_order_relaxed) >= max_connections) shed(std::move(socket));
    else start_session(std::move(socket), *this);
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
  if (auto cut = s.serving.drop_all(); cut > 0)
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
