// The HTTP client (api/http_client.hpp) that the tests, the benchmark
// harness and `lifeline check` share: URLs, keep-alive reuse, the headers it
// sends, and each way a request can get no reply. A scripted TCP peer in
// this process plays the server where the real one cannot be made to
// misbehave on cue (never answering, closing after a reply); the real
// server shows that a connection it closed while idle is reopened.
#include "support/eventually.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;
using api::http_endpoint;
using api::http_error;

namespace {

/// A listening socket on 127.0.0.1 and a free port.
int listen_socket(unsigned short& port, bool listening = true) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  port = ntohs(a.sin_port);
  if (listening) REQUIRE(::listen(fd, 16) == 0);
  return fd;
}

/// Answers every request with `reply` (an empty one: reads the request and
/// says nothing), one connection at a time, closing its side after a reply
/// if `close_after` is set. Counts the connections it accepted and keeps
/// every request it read.
class scripted_peer {
public:
  explicit scripted_peer(std::string reply, bool close_after = false)
    : reply_(std::move(reply)), close_after_(close_after), fd_(listen_socket(port_)),
      thread_([this] { serve(); }) {}
  ~scripted_peer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  unsigned short port() const { return port_; }
  int accepted() const { return accepted_; }
  std::vector<std::string> requests() const {
    std::lock_guard g{mutex_};
    return requests_;
  }

private:
  /// Waits for `fd` to be readable, 100 ms at a time until stopped.
  bool readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) return true;
    }
    return false;
  }

  void serve() {
    while (readable(fd_)) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      std::string in;
      char buf[4096];
      while (readable(c)) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, size_t(n));
        auto head_end = in.find("\r\n\r\n");
        if (head_end == std::string::npos) continue;
        size_t length = 0;
        if (auto at = in.find("Content-Length: "); at != std::string::npos && at < head_end)
          length = std::stoul(in.substr(at + 16));
        if (in.size() < head_end + 4 + length) continue;
        {
          std::lock_guard g{mutex_};
          requests_.push_back(in.substr(0, head_end + 4 + length));
        }
        in.erase(0, head_end + 4 + length);
        if (reply_.empty()) continue;
        ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        if (close_after_) break;
      }
      ::close(c);
    }
  }

  std::string reply_;
  bool close_after_;
  unsigned short port_ = 0;
  int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

const std::string ok_reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Served-By: peer\r\n\r\nok";

} // namespace

TEST_CASE("http: client: URLs give host and port, other schemes and bad ports are refused",
          "[http][client]") {
  auto a = http_endpoint::parse("http://db.example:8080/v1/health");
  REQUIRE(a);
  CHECK(a->host == "db.example");
  CHECK(a->port == 8080);
  auto b = http_endpoint::parse("127.0.0.1:9");
  REQUIRE(b);
  CHECK(b->host == "127.0.0.1");
  CHECK(b->port == 9);
  auto c = http_endpoint::parse("http://localhost");
  REQUIRE(c);
  CHECK(c->port == 80);
  auto d = http_endpoint::parse("http://[::1]:7000");
  REQUIRE(d);
  CHECK(d->host == "::1");
  CHECK(d->port == 7000);
  for (auto bad : {"https://host:443", "http://:80", "http://host:0", "http://host:65536", "http://host:8x",
                   "http://host:", "", "http://[::1", "::1:80"}) {
    INFO(bad);
    CHECK_FALSE(http_endpoint::parse(bad));
  }
}

TEST_CASE("http: client: one kept-alive connection carries every method, with the token, the "
          "content type and the caller's headers", "[http][client]") {
  scripted_peer peer{ok_reply};
  api::http_client_options options;
  options.bearer_token = "t0ken";
  api::http_client c{"127.0.0.1", peer.port(), options};
  for (auto method : {"GET", "PUT", "POST", "DELETE"}) {
    auto r = c.request(method, "/v1/x", std::string{method} == "GET" ? "" : R"({"a":1})");
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    CHECK(r.header("X-SERVED-BY") == "peer");
    CHECK(r.header("x-served-by") == "peer");
    CHECK(r.header("retry-after").empty());
  }
  auto own = c.request("POST", "/v1/y", "text", {{"Authorization", "Bearer other"}, {"Content-Type", "text/plain"}});
  CHECK(own.status == 200);
  CHECK(peer.accepted() == 1);
  auto sent = peer.requests();
  REQUIRE(sent.size() == 5);
  CHECK(sent[0].rfind("GET /v1/x HTTP/1.1\r\n", 0) == 0);
  CHECK(sent[0].find("Authorization: Bearer t0ken\r\n") != std::string::npos);
  CHECK(sent[0].find("Content-Type") == std::string::npos);
  CHECK(sent[1].rfind("PUT /v1/x HTTP/1.1\r\n", 0) == 0);
  CHECK(sent[1].find("Content-Type: application/json\r\n") != std::string::npos);
  CHECK(sent[1].find("\r\n\r\n{\"a\":1}") != std::string::npos);
  CHECK(sent[3].rfind("DELETE /v1/x HTTP/1.1\r\n", 0) == 0);
  CHECK(sent[4].find("Authorization: Bearer other\r\n") != std::string::npos);
  CHECK(sent[4].find("t0ken") == std::string::npos);
  CHECK(sent[4].find("Content-Type: text/plain\r\n") != std::string::npos);
  CHECK(sent[4].find("Host: 127.0.0.1:" + std::to_string(peer.port()) + "\r\n") != std::string::npos);
}

TEST_CASE("http: client: a line break or space in a target, method or header is refused before "
          "anything is sent", "[http][client]") {
  scripted_peer peer{ok_reply};
  api::http_client c{"127.0.0.1", peer.port()};
  CHECK_THROWS_AS(c.request("GET", "/a\r\nX-Injected: 1"), std::invalid_argument);
  CHECK_THROWS_AS(c.request("GET", "/a b"), std::invalid_argument);
  CHECK_THROWS_AS(c.request("GET", ""), std::invalid_argument);
  CHECK_THROWS_AS(c.request("GE T", "/"), std::invalid_argument);
  CHECK_THROWS_AS(c.request("GET", "/", "", {{"X-A", "1\r\nX-Injected: 1"}}), std::invalid_argument);
  CHECK_THROWS_AS(c.request("GET", "/", "", {{"X-A:", "1"}}), std::invalid_argument);
  CHECK(peer.accepted() == 0);
  CHECK(c.request("GET", "/%0d%0a", "", {{"X-A", "a b\tc"}}).status == 200);
}

TEST_CASE("http: client: a reply that closes the connection makes the next request open a new one",
          "[http][client]") {
  scripted_peer peer{"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
                     "Content-Length: 0\r\n\r\n",
                     true};
  api::http_client c{"127.0.0.1", peer.port()};
  auto first = c.request("GET", "/");
  CHECK(first.status == 503);
  CHECK(first.header("retry-after") == "1");
  CHECK(c.request("GET", "/").status == 503);
  CHECK(peer.accepted() == 2);
}

TEST_CASE("http: client: no connection is a connect error, no reply a timeout, and the client "
          "works on afterwards", "[http][client]") {
  unsigned short closed_port = 0;
  ::close(listen_socket(closed_port, false)); // bound, never listening: refused
  api::http_client refused{"127.0.0.1", closed_port};
  try {
    refused.request("GET", "/");
    FAIL("a request to a closed port got a reply");
  } catch (const http_error& e) {
    CHECK(e.failure() == http_error::kind::connect);
    CHECK(std::string{e.what()}.find("127.0.0.1:" + std::to_string(closed_port)) != std::string::npos);
  }

  scripted_peer silent{""};
  api::http_client_options options;
  options.request_timeout = std::chrono::milliseconds(200);
  api::http_client c{"127.0.0.1", silent.port(), options};
  for (int i = 0; i < 2; ++i) {
    try {
      c.request("GET", "/v1/never");
      FAIL("a server that never answers gave a reply");
    } catch (const http_error& e) {
      CHECK(e.failure() == http_error::kind::timeout);
      CHECK(std::string{e.what()}.find("GET /v1/never") != std::string::npos);
    }
  }
  // The timed-out connection was dropped: the second request opened another
  // (which the peer accepts on its own thread).
  CHECK(eventually([&] { return silent.accepted() == 2; }));
}

TEST_CASE("http: client: a connection the server closed while idle is reopened, not failed",
          "[http][client]") {
  temp_dir data;
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--idle-timeout-ms", "300"}};
  auto c = local_client(server.port());
  REQUIRE(c.request("GET", "/v1/health").status == 200);
  // Another client watches the server's open connections until only its
  // own is left: the first client's one was closed by the idle deadline.
  auto watcher = local_client(server.port());
  REQUIRE(eventually([&] {
    auto body = watcher.request("GET", "/metrics").body;
    return body.find("\nlifeline_http_connections 1\n") != std::string::npos;
  }));
  CHECK(c.request("GET", "/v1/health").status == 200);
  CHECK(server.stop() == 0);
}
