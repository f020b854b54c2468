// PostgreSQL frozen with SIGSTOP (scripts/pg.sh pause) for as long as a test
// needs it: a hung server, whose kernel still accepts connections and
// acknowledges data. Always resumed, also when the test fails, and calls into
// the frozen server are given a generous bound, so that a call that never
// returns fails the test instead of hanging it.
#pragma once

#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace lifeline::testing {

class frozen_postgres {
public:
  frozen_postgres() { REQUIRE(pg_control("pause") == 0); }
  ~frozen_postgres() { resume(); }
  frozen_postgres(const frozen_postgres&) = delete;
  frozen_postgres& operator=(const frozen_postgres&) = delete;

  void resume() {
    if (frozen_) pg_control("resume");
    frozen_ = false;
  }

  /// Runs `call` here and waits for it, a minute at most: past that, a
  /// rescuer thread resumes the server (so that the call returns) and the
  /// test fails; the result is then empty. On this thread, not one of its
  /// own: some things must end on the thread that made them (a CAF actor
  /// system holds its logger in the creating thread's locals).
  template <class F>
  auto bounded(F call) -> std::optional<decltype(call())> {
    std::mutex m;
    std::condition_variable done_cv;
    bool done = false, late = false;
    std::thread rescuer{[&] {
      std::unique_lock guard{m};
      if (!done_cv.wait_for(guard, std::chrono::seconds(60), [&] { return done; })) {
        late = true;
        pg_control("resume");
      }
    }};
    auto result = call();
    {
      std::lock_guard guard{m};
      done = true;
    }
    done_cv.notify_one();
    rescuer.join();
    if (!late) return result;
    frozen_ = false;
    FAIL_CHECK("a call into the frozen server did not return within 60 s");
    return std::nullopt;
  }

private:
  bool frozen_ = true;
};

} // namespace lifeline::testing
