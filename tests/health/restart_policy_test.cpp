#include "health/restart_policy.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

const restart_policy::time_point t0 = restart_policy::time_point{} + 1h;

restart_config no_jitter() {
  restart_config c;
  c.initial_backoff = 100ms;
  c.max_backoff = 1s;
  c.multiplier = 2.0;
  c.jitter = 0.0;
  c.max_restarts = 5;
  c.window = 60s;
  return c;
}

} // namespace

TEST_CASE("backoff doubles and is capped", "[restart]") {
  restart_policy p{no_jitter(), 1};
  CHECK(p.on_crash(t0).delay == 100ms);
  CHECK(p.on_crash(t0 + 1s).delay == 200ms);
  CHECK(p.on_crash(t0 + 2s).delay == 400ms);
  CHECK(p.on_crash(t0 + 3s).delay == 800ms);
  CHECK(p.on_crash(t0 + 4s).delay == 1s); // capped
}

TEST_CASE("jitter stays within its bounds and varies", "[restart]") {
  auto cfg = no_jitter();
  cfg.jitter = 0.2;
  cfg.max_restarts = 1000;
  cfg.window = 1ms; // every crash is the first in its window
  restart_policy p{cfg, 42};
  std::set<restart_policy::duration::rep> seen;
  for (int i = 0; i < 200; ++i) {
    auto d = p.on_crash(t0 + i * 1s).delay;
    CHECK(d >= 80ms);
    CHECK(d <= 120ms);
    seen.insert(d.count());
  }
  CHECK(seen.size() > 100);
}

TEST_CASE("the restart-intensity limit gives up after max_restarts in the window", "[restart]") {
  restart_policy p{no_jitter(), 1};
  for (int i = 0; i < 5; ++i) {
    auto d = p.on_crash(t0 + i * 1s);
    CHECK_FALSE(d.give_up);
    CHECK(d.attempt == uint32_t(i + 1));
  }
  CHECK(p.on_crash(t0 + 5s).give_up);
}

TEST_CASE("crashes older than the window no longer count", "[restart]") {
  restart_policy p{no_jitter(), 1};
  for (int i = 0; i < 5; ++i) p.on_crash(t0 + i * 1s);
  // 61 s after the first crash, the first two have left the window.
  auto d = p.on_crash(t0 + 61s);
  CHECK_FALSE(d.give_up);
  CHECK(d.attempt == 4);
}

TEST_CASE("reset forgets every crash", "[restart]") {
  restart_policy p{no_jitter(), 1};
  for (int i = 0; i < 5; ++i) p.on_crash(t0);
  p.reset();
  auto d = p.on_crash(t0);
  CHECK_FALSE(d.give_up);
  CHECK(d.delay == 100ms);
}
