#include "harness/http.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace lifeline::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct http_client::impl {
  net::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  std::string host, port;
  bool connected = false;
};

http_client::http_client(const std::string& base) : impl_(std::make_unique<impl>()) {
  auto rest = base.rfind("http://", 0) == 0 ? base.substr(7) : base;
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("bad URL " + base);
  impl_->host = rest.substr(0, colon);
  impl_->port = rest.substr(colon + 1);
}

http_client::~http_client() = default;

http_reply http_client::request(const std::string& method, const std::string& target,
                                const std::string& body, const std::string& token) {
  auto& d = *impl_;
  try {
    if (!d.connected) {
      tcp::resolver resolver{d.io};
      d.stream.connect(resolver.resolve(d.host, d.port));
      d.connected = true;
    }
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, d.host);
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    d.stream.expires_after(std::chrono::seconds(60));
    http::write(d.stream, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(d.stream, d.buffer, parser);
    auto res = parser.release();
    http_reply out;
    out.status = res.result_int();
    if (auto it = res.find("X-Served-By"); it != res.end()) out.served_by = std::string{it->value()};
    out.body = std::move(res.body());
    if (!res.keep_alive()) {
      beast::error_code ignored;
      d.stream.socket().close(ignored);
      d.connected = false;
    }
    return out;
  } catch (const std::exception&) {
    beast::error_code ignored;
    d.stream.socket().close(ignored);
    d.connected = false;
    d.buffer.clear();
    // Counted as a failed request (status 0), never retried here: a retry
    // would hide the failure from the measurement. The next request opens
    // a new connection.
  }
  return {};
}

server_child::server_child(const std::string& binary, std::vector<std::string> args) {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    std::vector<std::string> argv_s{binary, "serve", "--listen", "127.0.0.1:0"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  FILE* in = ::fdopen(out[0], "r");
  char line[256];
  while (std::fgets(line, sizeof line, in))
    if (std::sscanf(line, "lifeline: listening on http://127.0.0.1:%u", &port_) == 1) break;
  std::fclose(in);
  if (port_ == 0) throw std::runtime_error(binary + " serve did not start (see its log above)");
}

server_child::~server_child() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

} // namespace lifeline::bench
