// PostgreSQL frozen with SIGSTOP (scripts/pg.sh pause) for as long as a test
// needs it: a hung server, whose kernel still accepts connections and
// acknowledges data. Always resumed, also when the test fails, and calls into
// the frozen server are waited for with a generous bound, so that a call
// that never returns fails the test instead of hanging it.
#pragma once

#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <optional>

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

  /// Runs `call` on a thread of its own and waits for it, a minute at most.
  /// A call still running then fails the test: the server is resumed (so
  /// that the call returns and its thread can be joined) and the result is
  /// empty.
  template <class F>
  auto bounded(F call) -> std::optional<decltype(call())> {
    auto task = std::async(std::launch::async, std::move(call));
    if (task.wait_for(std::chrono::seconds(60)) == std::future_status::ready) return task.get();
    resume();
    FAIL_CHECK("a call into the frozen server did not return within 60 s");
    task.wait();
    return std::nullopt;
  }

private:
  bool frozen_ = true;
};

} // namespace lifeline::testing
