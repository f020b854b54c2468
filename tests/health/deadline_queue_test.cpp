#include "health/deadline_queue.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {
const deadline_queue::time_point t0 = deadline_queue::time_point{} + 1h;
}

TEST_CASE("deadlines expire in order, only once they have passed", "[deadlines]") {
  deadline_queue q;
  std::vector<int> fired;
  q.arm(t0 + 20ms, [&] { fired.push_back(2); });
  q.arm(t0 + 10ms, [&] { fired.push_back(1); });
  q.arm(t0 + 30ms, [&] { fired.push_back(3); });
  CHECK(*q.next() == t0 + 10ms);
  for (auto& f : q.expire(t0 + 9ms)) f();
  CHECK(fired.empty());
  for (auto& f : q.expire(t0 + 20ms)) f();
  CHECK(fired == std::vector<int>{1, 2});
  CHECK(q.size() == 1);
  CHECK(*q.next() == t0 + 30ms);
}

TEST_CASE("a disarmed deadline never fires, disarming twice or after expiry is refused",
          "[deadlines]") {
  deadline_queue q;
  bool fired = false;
  auto a = q.arm(t0, [&] { fired = true; });
  auto b = q.arm(t0, [] {});
  CHECK(q.disarm(a));
  CHECK_FALSE(q.disarm(a));
  for (auto& f : q.expire(t0)) f();
  CHECK_FALSE(fired);
  CHECK_FALSE(q.disarm(b)); // expired: a late reply must be ignored
  CHECK_FALSE(q.next());
  CHECK(q.size() == 0);
}
