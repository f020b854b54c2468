// The watchdog that bounds PostgreSQL calls, on plain socket pairs: it wakes
// a reader blocked on a socket whose deadline passed, leaves released
// sockets alone, and never touches a descriptor number that was closed and
// reused meanwhile (it shuts down its own duplicate).
#include "backends/postgres_watchdog.hpp"
#include "support/eventually.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

struct socket_pair {
  std::array<int, 2> fd{-1, -1};
  socket_pair() { REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fd.data()) == 0); }
  ~socket_pair() { close(); }
  void close() {
    for (auto& f : fd)
      if (f >= 0) ::close(std::exchange(f, -1));
  }
  /// Sends one byte one way and reads it at the other end (a minute at most).
  bool carries_data() {
    char out = 'x', in = 0;
    if (::send(fd[1], &out, 1, 0) != 1) return false;
    pollfd p{fd[0], POLLIN, 0};
    return ::poll(&p, 1, 60'000) == 1 && ::recv(fd[0], &in, 1, 0) == 1 && in == 'x';
  }
};

} // namespace

TEST_CASE("postgres watchdog: a reader blocked past its deadline is woken, the socket shut down",
          "[postgres][watchdog]") {
  postgres_watchdog dog;
  socket_pair s;
  auto watch = dog.guard(s.fd[0], postgres_watchdog::clock::now() + 50ms);
  REQUIRE(watch.armed());
  // Nothing is ever sent: only the watchdog can end this wait early.
  pollfd p{s.fd[0], POLLIN, 0};
  REQUIRE(::poll(&p, 1, 60'000) == 1);
  char byte;
  CHECK(::recv(s.fd[0], &byte, 1, 0) == 0); // end of stream: shut down
  CHECK(watch.release());
  CHECK(watch.release()); // asked again: same answer
  CHECK(dog.fired() == 1);
}

TEST_CASE("postgres watchdog: a call released before its deadline is left alone",
          "[postgres][watchdog]") {
  postgres_watchdog dog;
  socket_pair s;
  {
    auto watch = dog.guard(s.fd[0], postgres_watchdog::clock::now() + 1h);
    CHECK(s.carries_data());
    CHECK_FALSE(watch.release());
  }
  // A later, earlier deadline fires first in any case: once it has fired,
  // the released one would have too, had it still been watched.
  socket_pair other;
  auto expired = dog.guard(other.fd[0], postgres_watchdog::clock::now());
  CHECK(eventually([&] { return dog.fired() == 1; }));
  CHECK(expired.release());
  CHECK(s.carries_data());
}

TEST_CASE("postgres watchdog: a descriptor closed and reused before the deadline is not touched",
          "[postgres][watchdog]") {
  postgres_watchdog dog;
  auto first = std::make_unique<socket_pair>();
  int number = first->fd[0];
  auto watch = dog.guard(number, postgres_watchdog::clock::now() + 200ms);
  first->close(); // as libpq closes a connection that broke
  socket_pair reused;
  INFO("descriptor " << number << " reused as " << reused.fd[0] << ", " << reused.fd[1]);
  CHECK(eventually([&] { return dog.fired() == 1; }));
  CHECK(reused.carries_data());
  CHECK(watch.release());
}

TEST_CASE("postgres watchdog: an invalid descriptor is not watched", "[postgres][watchdog]") {
  postgres_watchdog dog;
  CHECK_FALSE(dog.guard(-1, postgres_watchdog::clock::now()).armed());
}
