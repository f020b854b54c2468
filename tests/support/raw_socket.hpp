// A plain TCP connection to a test server, for what a well-behaved client
// never sends (malformed or partial requests, idle or flooding
// connections): the HTTP client (api/http_client.hpp) cannot send those.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <utility>

namespace lifeline::testing {

/// A plain TCP connection, for what a well-behaved client never sends.
class raw_socket {
public:
  explicit raw_socket(unsigned short port, bool wait_connected = true) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | (wait_connected ? 0 : SOCK_NONBLOCK), 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (wait_connected) REQUIRE(rc == 0);
  }
  ~raw_socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_socket(raw_socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  raw_socket(const raw_socket&) = delete;

  void send(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size()));
  }

  /// Everything the server sends until it closes the connection (or
  /// `bound` passes: then `closed` is false).
  struct received {
    std::string bytes;
    bool closed = false;
  };
  received read_until_closed(std::chrono::seconds bound = std::chrono::seconds(60)) {
    received out;
    auto until = std::chrono::steady_clock::now() + bound;
    char buf[4096];
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        out.closed = true;
        break;
      }
      out.bytes.append(buf, size_t(n));
    }
    return out;
  }

private:
  int fd_ = -1;
};

inline unsigned status_of(const std::string& response) {
  unsigned status = 0;
  std::sscanf(response.c_str(), "HTTP/1.1 %u", &status);
  return status;
}

} // namespace lifeline::testing
