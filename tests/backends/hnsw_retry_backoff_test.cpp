// backends/hnsw/retry_backoff.hpp: the snapshot retry schedule (capped
// exponential back-off) and which failures are logged, with the time
// passed in.
#include "backends/hnsw/retry_backoff.hpp"

#include <catch2/catch.hpp>

using namespace lifeline::hnsw;
using namespace std::chrono_literals;

TEST_CASE("retry back-off: delays double up to the cap, and only some failures are logged",
          "[hnsw][backoff]") {
  retry_backoff b{1s, 8s};
  auto t = retry_backoff::time_point{} + 1h;
  CHECK(b.due(t));
  std::vector<std::chrono::seconds> delays;
  std::vector<bool> logged;
  for (int i = 0; i < 8; ++i) {
    logged.push_back(b.failed(t));
    auto d = std::chrono::duration_cast<std::chrono::seconds>(b.delay());
    delays.push_back(d);
    CHECK_FALSE(b.due(t + d - 1ms));
    CHECK(b.due(t + d));
    t += d;
  }
  CHECK(delays == std::vector<std::chrono::seconds>{1s, 2s, 4s, 8s, 8s, 8s, 8s, 8s});
  // The 1st, 2nd, 4th and 8th failures: the log does not repeat every attempt.
  CHECK(logged == std::vector<bool>{true, true, false, true, false, false, false, true});
  CHECK(b.failures() == 8);
  CHECK(b.succeeded() == 8);
  CHECK(b.failures() == 0);
  CHECK(b.due(t)); // forgotten: the next failure starts at the initial delay
  b.failed(t);
  CHECK(b.delay() == 1s);
}
