#include "api/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <iterator>
#include <cerrno>
#include <charconv>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

namespace lifeline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using kind = http_error::kind;

namespace {

/// ASCII only, as header names are (and no locale lookup per character).
char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

/// A request that would not be one request on the wire (a line break or a
/// space where none may be) is the caller's bug: refused before a byte goes.
void check_request(const http_request& r) {
  auto bad = [](std::string_view text, std::string_view forbidden) {
    return text.empty() || text.find_first_of(forbidden) != std::string_view::npos
           || std::any_of(text.begin(), text.end(), [](char c) { return (unsigned char)c < 0x20 && c != '\t'; });
  };
  using namespace std::string_view_literals;
  if (bad(r.method, " \t"sv)) throw std::invalid_argument("http_client: bad method '" + r.method + "'");
  if (bad(r.target, " \t"sv) || r.target.find('\x7f') != std::string::npos)
    throw std::invalid_argument("http_client: bad target '" + r.target + "'");
  for (auto& [name, value] : r.headers) {
    if (bad(name, " \t:"sv)) throw std::invalid_argument("http_client: bad header name '" + name + "'");
    if (value.find_first_of("\r\n"sv) != std::string::npos || value.find('\0') != std::string::npos)
      throw std::invalid_argument("http_client: a line break in header " + name);
  }
}

} // namespace

std::string http_response::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

std::optional<http_endpoint> http_endpoint::parse(std::string_view url) {
  if (url.rfind("http://", 0) == 0) url.remove_prefix(7);
  else if (url.find("://") != std::string_view::npos) return std::nullopt; // http only
  url = url.substr(0, url.find('/'));
  http_endpoint out;
  std::string_view port;
  if (!url.empty() && url.front() == '[') { // [IPv6]:port
    auto close = url.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    out.host = std::string{url.substr(1, close - 1)};
    auto rest = url.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
  } else if (auto colon = url.find(':'); colon != std::string_view::npos) {
    if (url.find(':', colon + 1) != std::string_view::npos) return std::nullopt; // IPv6 needs []
    out.host = std::string{url.substr(0, colon)};
    port = url.substr(colon + 1);
  } else {
    out.host = std::string{url};
  }
  if (out.host.empty()) return std::nullopt;
  if (!port.empty() || url.back() == ':') {
    unsigned n = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc{} || end != port.data() + port.size() || n == 0 || n > 65535) return std::nullopt;
    out.port = uint16_t(n);
  }
  return out;
}

namespace {

/// The connected socket as Beast's synchronous stream, each send and recv
/// bounded by the request's deadline through SO_SNDTIMEO/SO_RCVTIMEO (a
/// blocking asio socket cannot be bounded that way: when its recv times out
/// it polls without a bound). A request costs one send and one recv, as on
/// a plain blocking socket; the timeouts are set again only when the time
/// left differs from the one set by more than `slack`, which is also how
/// far past its deadline a request may end.
class bounded_stream {
public:
  static constexpr std::chrono::microseconds slack{20000};
  /// `armed`: the timeouts set on `fd` (receive, send), zero for none.
  bounded_stream(int fd, clock_type::time_point deadline, std::chrono::microseconds (&armed)[2])
    : fd_(fd), deadline_(deadline), armed_(armed) {}

  template <class Buffers>
  size_t read_some(const Buffers& buffers, beast::error_code& ec) {
    return transfer(buffers, ec, false);
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    beast::error_code ec;
    auto n = read_some(buffers, ec);
    if (ec) throw beast::system_error{ec};
    return n;
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers, beast::error_code& ec) {
    return transfer(buffers, ec, true);
  }
  template <class Buffers>
  size_t write_some(const Buffers& buffers) {
    beast::error_code ec;
    auto n = write_some(buffers, ec);
    if (ec) throw beast::system_error{ec};
    return n;
  }

private:
  /// Sets the timeout of the next send or recv to the time left.
  bool arm(bool send, beast::error_code& ec) {
    using std::chrono::microseconds;
    auto left = std::chrono::duration_cast<microseconds>(deadline_ - clock_type::now());
    if (left.count() <= 0) {
      ec = beast::error::timeout;
      return false;
    }
    auto& armed = armed_[send ? 1 : 0];
    if (armed.count() > 0 && armed <= left + slack && armed + slack >= left) return true;
    timeval tv{time_t(left.count() / 1000000), suseconds_t(left.count() % 1000000)};
    if (::setsockopt(fd_, SOL_SOCKET, send ? SO_SNDTIMEO : SO_RCVTIMEO, &tv, sizeof tv) != 0) {
      ec.assign(errno, boost::system::system_category());
      return false;
    }
    armed = left;
    return true;
  }

  template <class Buffers>
  size_t transfer(const Buffers& buffers, beast::error_code& ec, bool send) {
    iovec iov[16];
    size_t count = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers) && count < 16; ++it) {
      auto b = net::const_buffer(*it);
      if (b.size() == 0) continue;
      iov[count].iov_base = const_cast<void*>(b.data());
      iov[count].iov_len = b.size();
      ++count;
    }
    ec = {};
    if (count == 0) return 0;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    for (;;) {
      if (!arm(send, ec)) return 0;
      auto n = send ? ::sendmsg(fd_, &msg, MSG_NOSIGNAL) : ::recvmsg(fd_, &msg, 0);
      if (n > 0) return size_t(n);
      if (n == 0 && !send) {
        ec = net::error::eof;
        return 0;
      }
      // EAGAIN: the timeout passed (arm tells whether the deadline did).
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      ec.assign(n < 0 ? errno : EPIPE, boost::system::system_category());
      return 0;
    }
  }

  int fd_;
  clock_type::time_point deadline_;
  std::chrono::microseconds (&armed_)[2];
};

} // namespace

struct http_client::impl {
  std::string host;
  uint16_t port;
  http_client_options options;
  std::string host_field; ///< The Host header: host:port ([v6]:port).
  std::string bearer;     ///< "Bearer <token>", or empty.
  net::io_context io{1}; ///< For the connect only.
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  std::chrono::microseconds armed[2] = {}; ///< SO_RCVTIMEO, SO_SNDTIMEO set on the socket.

  impl(std::string h, uint16_t p, http_client_options o)
    : host(std::move(h)), port(p), options(std::move(o)) {
    host_field = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
    if (!options.bearer_token.empty()) bearer = "Bearer " + options.bearer_token;
  }

  std::string where() const { return host_field; }

  /// Runs the handlers until `done` is set or `deadline` passes. On the
  /// deadline it closes the socket, lets the cancelled operation finish (at
  /// once) and returns false: nothing outlives the call.
  bool run_until(clock_type::time_point deadline, const bool& done) {
    io.restart();
    while (!done && io.run_one_until(deadline) > 0) {
    }
    if (done) return true;
    beast::error_code ignored;
    socket.close(ignored);
    io.restart();
    io.run();
    buffer.clear();
    return false;
  }

  void close() {
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    buffer.clear();
  }

  /// A kept connection can carry the next request if the server has not
  /// closed it while it was idle (or sent anything unasked).
  bool reusable() {
    if (buffer.size() > 0) return false;
    char c;
    auto n = ::recv(socket.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  void connect() {
    auto deadline = clock_type::now() + options.connect_timeout;
    beast::error_code ec;
    std::vector<tcp::endpoint> endpoints;
    auto address = net::ip::make_address(host, ec);
    if (!ec) {
      endpoints.emplace_back(address, port);
    } else {
      // Bounded by the system resolver's own timeout and attempts.
      tcp::resolver resolver{io};
      auto found = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
      if (ec) throw http_error(kind::connect, "cannot resolve " + host + ": " + ec.message());
      for (auto& e : found) endpoints.push_back(e.endpoint());
    }
    bool done = false;
    net::async_connect(socket, endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!run_until(deadline, done))
      throw http_error(kind::timeout, "connect to " + where() + ": no answer within "
                                        + std::to_string(options.connect_timeout.count()) + " ms");
    if (ec) fail_connect(ec);
    socket.set_option(tcp::no_delay(true), ec); // one write per request: no reason to wait
    // Requests use blocking calls bounded by socket timeouts (bounded_stream).
    socket.native_non_blocking(false, ec);
    if (ec) fail_connect(ec);
    armed[0] = armed[1] = {};
  }

  [[noreturn]] void fail_connect(const beast::error_code& ec) {
    close();
    throw http_error(kind::connect, "connect to " + where() + ": " + ec.message());
  }

  [[noreturn]] void fail(kind k, const http_request& r, const std::string& what) {
    close();
    throw http_error(k, r.method + " " + r.target + " on " + where() + ": " + what);
  }

  http_response exchange(http_request& r) {
    http::request<http::string_body> req;
    auto verb = http::string_to_verb(r.method);
    if (verb == http::verb::unknown) req.method_string(r.method);
    else req.method(verb);
    req.target(r.target);
    req.version(11);
    req.set(http::field::host, host_field);
    bool has_auth = false, has_type = false;
    for (auto& [name, value] : r.headers) {
      req.set(name, value);
      has_auth = has_auth || iequals(name, "authorization");
      has_type = has_type || iequals(name, "content-type");
    }
    if (!has_auth && !bearer.empty()) req.set(http::field::authorization, bearer);
    if (!r.body.empty() && !has_type) req.set(http::field::content_type, "application/json");
    req.body() = std::move(r.body);
    req.prepare_payload();

    auto bound = r.timeout.count() > 0 ? r.timeout : options.request_timeout;
    bounded_stream stream{socket.native_handle(), clock_type::now() + bound, armed};
    beast::error_code write_ec, read_ec;
    http::write(stream, req, write_ec);
    // A server may answer before it has read the whole request (413) and
    // close: its reply is still worth reading after a failed write.
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.body_limit);
    if (verb == http::verb::head) parser.skip(true);
    if (write_ec != beast::error::timeout) http::read(stream, buffer, parser, read_ec);
    auto ec = write_ec == beast::error::timeout ? write_ec : read_ec;
    if (ec == beast::error::timeout)
      fail(kind::timeout, r, "no reply within " + std::to_string(bound.count()) + " ms");
    if (ec) fail(kind::io, r, write_ec ? "write: " + write_ec.message() : "read: " + read_ec.message());

    auto res = parser.release();
    http_response out;
    out.status = res.result_int();
    out.headers.reserve(size_t(std::distance(res.begin(), res.end())));
    for (auto& field : res) {
      auto& [name, value] = out.headers.emplace_back(std::string{field.name_string()}, std::string{field.value()});
      std::transform(name.begin(), name.end(), name.begin(), lower);
    }
    out.body = std::move(res.body());
    if (write_ec || !res.keep_alive()) close();
    return out;
  }
};

http_client::http_client(std::string host, uint16_t port, http_client_options options)
  : impl_(std::make_unique<impl>(std::move(host), port, std::move(options))) {}

http_client::http_client(http_endpoint where, http_client_options options)
  : http_client(std::move(where.host), where.port, std::move(options)) {}

http_client::~http_client() = default;
http_client::http_client(http_client&&) noexcept = default;
http_client& http_client::operator=(http_client&&) noexcept = default;

http_response http_client::send(http_request request) {
  check_request(request);
  auto& d = *impl_;
  if (d.socket.is_open() && !d.reusable()) d.close();
  if (!d.socket.is_open()) d.connect();
  return d.exchange(request);
}

http_response http_client::request(std::string method, std::string target, std::string body,
                                   http_headers headers) {
  http_request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers = std::move(headers);
  return send(std::move(r));
}

void http_client::close() { impl_->close(); }
const std::string& http_client::host() const { return impl_->host; }
uint16_t http_client::port() const { return impl_->port; }

} // namespace lifeline::api
