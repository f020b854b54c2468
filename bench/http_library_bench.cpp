// Boost.Beast next to RESTinio (both from Debian) serving the same tiny JSON
// reply with one thread each, driven by wrk in the same run. The HTTP server
// is built on the faster one.
//   build/bin/lifeline-bench-http-library [--seconds S]
#include <utility> // boost/asio/awaitable.hpp uses std::exchange without it

#define RESTINIO_USE_BOOST_ASIO shared
#include <restinio/all.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

const std::string reply_body = R"({"id":"a","content":"hello","version":0})";

class beast_session : public std::enable_shared_from_this<beast_session> {
public:
  explicit beast_session(tcp::socket s) : stream_(std::move(s)) {}
  void read() {
    req_ = {};
    http::async_read(stream_, buffer_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, self->req_.version());
      res->set(http::field::content_type, "application/json");
      res->keep_alive(self->req_.keep_alive());
      res->body() = reply_body;
      res->prepare_payload();
      http::async_write(self->stream_, *res, [self, res](beast::error_code ec2, size_t) {
        if (!ec2 && res->keep_alive()) self->read();
      });
    });
  }

private:
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
};

void beast_accept(tcp::acceptor& a) {
  a.async_accept([&a](beast::error_code ec, tcp::socket s) {
    if (!ec) std::make_shared<beast_session>(std::move(s))->read();
    if (a.is_open()) beast_accept(a);
  });
}

double wrk(unsigned short port, int seconds) {
  auto cmd = "wrk -t1 -c8 -d" + std::to_string(seconds) + "s http://127.0.0.1:" + std::to_string(port) + "/ 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  double rps = 0;
  char line[256];
  while (p && std::fgets(line, sizeof line, p)) std::sscanf(line, "Requests/sec: %lf", &rps);
  if (p) pclose(p);
  return rps;
}

} // namespace

int main(int argc, char** argv) {
  int seconds = 3;
  if (argc == 3 && !std::strcmp(argv[1], "--seconds")) seconds = std::atoi(argv[2]);

  net::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint{net::ip::make_address("127.0.0.1"), 0}};
  auto beast_port = acceptor.local_endpoint().port();
  beast_accept(acceptor);
  std::thread beast_thread{[&] { io.run(); }};
  double beast_rps = wrk(beast_port, seconds);
  net::post(io, [&] { acceptor.close(); io.stop(); });
  beast_thread.join();

  unsigned short restinio_port = 18089;
  auto server = restinio::run_async(
    restinio::own_io_context(),
    restinio::server_settings_t<>{}.address("127.0.0.1").port(restinio_port).request_handler(
      [](auto req) {
        return req->create_response()
          .append_header(restinio::http_field::content_type, "application/json")
          .set_body(reply_body)
          .done();
      }),
    1);
  double restinio_rps = wrk(restinio_port, seconds);
  server.reset();

  std::printf("tiny JSON reply, 1 server thread, wrk -t1 -c8 -d%ds\n", seconds);
  std::printf("%-22s %12s %8s\n", "library", "requests/s", "ratio");
  std::printf("%-22s %12.0f %8.2f\n", "RESTinio 0.6", restinio_rps, 1.0);
  std::printf("%-22s %12.0f %8.2f\n", "Boost.Beast 1.74", beast_rps, beast_rps / restinio_rps);
  return 0;
}
