// The PostgreSQL backend's pool against a frozen server (SIGSTOP): every call
// returns within its bound whatever the server does, a pool whose
// connections are all stuck recovers, and the next calls after a resume
// succeed on fresh connections. Killed servers, passwords and transactions
// are postgres_backend_test.cpp's.
#include "backends/postgres_backend.hpp"
#include "support/frozen_postgres.hpp"
#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <vector>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

/// Short bounds, so that the tests wait seconds, not minutes.
postgres_config short_bounds(uint32_t pool_size) {
  auto cfg = postgres_from_env(pool_size);
  cfg.statement_timeout = 500ms; // call bound: 1.5 s
  cfg.connect_timeout = 2s;
  return cfg;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("postgres pool: a call to a frozen server answers timeout, then recovers on a fresh "
          "connection",
          "[postgres][fault][frozen]") {
  postgres_backend pg{short_bounds(1)};
  auto c = unique_collection("frozen");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {{"a", {1, 2}, "", "", 1}})); // the pool's one connection is open
  frozen_postgres frozen;
  SECTION("a read") {
    auto r = frozen.bounded([&] { return pg.get(c, "a"); });
    REQUIRE(r);
    REQUIRE_FALSE(*r);
    CHECK(r->error().kind == errc::timeout);
    CHECK(contains(r->error().message, "connection abandoned"));
  }
  SECTION("a write") {
    auto r = frozen.bounded([&] { return pg.upsert(c, {{"b", {3, 4}, "", "", 2}}); });
    REQUIRE(r);
    REQUIRE_FALSE(*r);
    CHECK(r->error().kind == errc::timeout);
  }
  SECTION("the next call opens a connection, which the frozen server cannot finish") {
    REQUIRE(frozen.bounded([&] { return pg.probe(); }));
    auto r = frozen.bounded([&] { return pg.probe(); });
    REQUIRE(r);
    REQUIRE_FALSE(*r);
    CHECK(r->error().kind == errc::backend_unavailable);
    CHECK(contains(r->error().message, "cannot connect"));
  }
  frozen.resume();
  // The abandoned connection was dropped: this call opens a fresh one.
  auto got = pg.get(c, "a");
  REQUIRE(got);
  CHECK(got->version == 1);
  REQUIRE(pg.upsert(c, {{"b", {3, 4}, "", "", 2}}));
  CHECK(pg.get(c, "b"));
}

TEST_CASE("postgres pool: connecting to a frozen server ends by connect_timeout",
          "[postgres][fault][frozen]") {
  postgres_backend pg{short_bounds(2)}; // no connection open yet
  frozen_postgres frozen;
  // TCP connects (the server's kernel accepts), the startup handshake hangs.
  auto r = frozen.bounded([&] { return pg.probe(); });
  REQUIRE(r);
  REQUIRE_FALSE(*r);
  CHECK(r->error().kind == errc::backend_unavailable);
  CHECK(contains(r->error().message, "cannot connect"));
  frozen.resume();
  CHECK(pg.probe());
}

TEST_CASE("postgres pool: with every connection stuck on a frozen server, every caller returns",
          "[postgres][fault][frozen]") {
  postgres_backend pg{short_bounds(2)};
  auto c = unique_collection("stuck");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {{"a", {1, 2}, "", "", 1}}));
  auto four_reads = [&] {
    std::vector<std::future<expected<document>>> calls;
    for (int i = 0; i < 4; ++i)
      calls.push_back(std::async(std::launch::async, [&] { return pg.get(c, "a"); }));
    std::vector<expected<document>> out;
    for (auto& f : calls) out.push_back(f.get());
    return out;
  };
  for (int round = 0; round < 20; ++round) // opens both connections, most likely
    for (auto& r : four_reads()) REQUIRE(r);
  frozen_postgres frozen;
  // Two calls hold the connections until the watchdog frees them; the two
  // waiting for a connection give up by their own deadline or connect (and
  // the frozen server lets no connect finish).
  auto results = frozen.bounded(four_reads);
  REQUIRE(results);
  int timeouts = 0;
  for (auto& r : *results) {
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK((r.error().kind == errc::timeout || r.error().kind == errc::backend_unavailable));
    timeouts += r.error().kind == errc::timeout ? 1 : 0;
  }
  CHECK(timeouts >= 1); // at least one call was cut short on a pooled connection
  frozen.resume();
  for (auto& r : four_reads()) {
    REQUIRE(r);
    CHECK(r->version == 1);
  }
}
