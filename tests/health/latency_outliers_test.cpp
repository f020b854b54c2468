#include "health/latency_outliers.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

latency_standing at(std::chrono::milliseconds p95, bool demoted = false) {
  return latency_standing{true, p95, demoted};
}

latency_outlier_config cfg() {
  latency_outlier_config c;
  c.factor = 5;
  c.floor = 20ms;
  return c;
}

} // namespace

TEST_CASE("outliers: a backend far slower than its peer is demoted", "[outliers]") {
  std::vector<latency_standing> p{at(200ms), at(2ms)};
  CHECK(update_demotions(p, cfg()) == std::vector<size_t>{0});
  CHECK(p[0].demoted);
  CHECK_FALSE(p[1].demoted);
}

TEST_CASE("outliers: below the floor nobody is demoted", "[outliers]") {
  std::vector<latency_standing> p{at(15ms), at(1ms)}; // 15 x, but under 20 ms
  CHECK(update_demotions(p, cfg()).empty());
  CHECK_FALSE(p[0].demoted);
}

TEST_CASE("outliers: within the factor nobody is demoted", "[outliers]") {
  std::vector<latency_standing> p{at(90ms), at(20ms)};
  CHECK(update_demotions(p, cfg()).empty());
}

TEST_CASE("outliers: promotion needs a clear recovery", "[outliers]") {
  std::vector<latency_standing> p{at(200ms), at(10ms)};
  update_demotions(p, cfg());
  REQUIRE(p[0].demoted);
  p[0].p95 = 40ms; // under 5 x 10 ms, but not under 2.5 x: stays demoted
  CHECK(update_demotions(p, cfg()).empty());
  CHECK(p[0].demoted);
  p[0].p95 = 25ms;
  CHECK(update_demotions(p, cfg()) == std::vector<size_t>{0});
  CHECK_FALSE(p[0].demoted);
}

TEST_CASE("outliers: under half the floor is promoted", "[outliers]") {
  std::vector<latency_standing> p{at(9ms, true), at(1ms)};
  p[1].p95 = std::chrono::microseconds(100);
  update_demotions(p, cfg());
  CHECK_FALSE(p[0].demoted);
}

TEST_CASE("outliers: too few samples or no eligible peer promotes", "[outliers]") {
  std::vector<latency_standing> p{at(200ms, true), at(2ms)};
  SECTION("its own samples aged out") {
    p[0].p95.reset();
    CHECK(update_demotions(p, cfg()) == std::vector<size_t>{0});
  }
  SECTION("the peer left (not in sync, down)") {
    p[1].eligible = false;
    CHECK(update_demotions(p, cfg()) == std::vector<size_t>{0});
  }
  SECTION("the peer has too few samples") {
    p[1].p95.reset();
    CHECK(update_demotions(p, cfg()) == std::vector<size_t>{0});
  }
  CHECK_FALSE(p[0].demoted);
}

TEST_CASE("outliers: the best of several peers is the reference", "[outliers]") {
  std::vector<latency_standing> p{at(60ms), at(100ms), at(10ms)};
  auto changed = update_demotions(p, cfg());
  CHECK(changed == std::vector<size_t>{0, 1});
  CHECK_FALSE(p[2].demoted);
}

TEST_CASE("outliers: factor 0 never demotes", "[outliers]") {
  auto c = cfg();
  c.factor = 0;
  std::vector<latency_standing> p{at(900ms), at(1ms)};
  CHECK(update_demotions(p, c).empty());
}
