// Supervision on CAF's deterministic scheduler: restart with capped
// exponential backoff, the restart-intensity limit, slow probing after
// giving up, and recovery.
#include "actors/errors.hpp"
#include "support/two_backends.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

TEST_CASE("a crash is served by the other backend, then restarted with backoff",
          "[supervisor]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::throw_exception, operation::get);
  auto r = f.get("a");
  REQUIRE(r); // the caller never sees the crash
  CHECK(r->backend == "secondary");
  auto h = f.health_of("primary");
  CHECK(h.lifecycle == lifecycle_state::restarting);
  CHECK(h.last_error.find("injected exception") != std::string::npos);
  CHECK(f.metrics->restarts("primary") == 0);
  // First restart after 100 ms (no jitter in the test configuration).
  f.advance(99ms);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  f.advance(1ms);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
  CHECK(f.metrics->restarts("primary") == 1);
  // Second crash: the backoff doubles.
  REQUIRE(f.get("a")->backend == "secondary");
  f.advance(199ms);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  f.advance(1ms);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
  CHECK(f.health_of("primary").restarts == 2);
  // Healthy again: back in rotation, with the data it had (the store outlives
  // the crashed client).
  f.primary->clear();
  auto back = f.get("a");
  REQUIRE(back);
  CHECK(back->backend == "primary");
  CHECK(back->value.content == "A");
}

TEST_CASE("the restart-intensity limit marks the backend failed, a slow probe brings it back",
          "[supervisor]") {
  two_backends f;
  f.seed_data();
  f.crash_primary_until_failed();
  auto h = f.health_of("primary");
  CHECK(h.lifecycle == lifecycle_state::failed);
  CHECK(h.last_error.find("gave up after 3 restarts") != std::string::npos);
  CHECK(f.metrics->last_lifecycle("primary") == lifecycle_state::failed);
  // Nothing restarts it on the fast path any more.
  f.advance(10s);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::failed);
  CHECK(f.get("a")->backend == "secondary");
  SECTION("while the store stays broken, the slow probe keeps it failed") {
    f.primary->inject(fault::unavailable);
    f.advance(20s); // failed_probe_interval = 30 s after giving up
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::failed);
    CHECK(f.health_of("primary").last_error.find("connection refused") != std::string::npos);
  }
  SECTION("once the store answers its probe, the backend is up again") {
    f.primary->clear();
    f.advance(20s);
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
    CHECK(f.get("a")->backend == "primary");
    // The intensity window starts afresh: a new crash restarts it again.
    f.primary->inject(fault::throw_exception, operation::get);
    f.get("a");
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  }
}

TEST_CASE("a backend whose factory fails is retried with backoff", "[supervisor]") {
  int attempts = 0;
  auto flaky = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  two_backends f{[&](runtime_config& c) {
    c.backends[0].factory = [&attempts, flaky]() -> expected<std::shared_ptr<backend>> {
      if (++attempts < 3) return make_backend_error(errc::backend_unavailable, "cannot connect");
      return std::shared_ptr<backend>{flaky};
    };
  }};
  CHECK(attempts == 1);
  auto h = f.health_of("primary");
  CHECK(h.lifecycle == lifecycle_state::restarting);
  CHECK(h.last_error.find("cannot connect") != std::string::npos);
  f.advance(100ms);
  CHECK(attempts == 2);
  f.advance(200ms);
  CHECK(attempts == 3);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
}

TEST_CASE("stopping the runtime stops the supervisors and their backends", "[supervisor]") {
  two_backends f;
  auto sup = f.rt.supervisors.at(0);
  auto status = f.ask<lifecycle_event>(sup, status_atom::value);
  REQUIRE(status);
  CHECK(status->state == lifecycle_state::up);
  REQUIRE(status->handle);
  auto backend = status->handle;
  f.rt.stop();
  f.run();
  CHECK(f.metrics->last_lifecycle("primary") == lifecycle_state::stopped);
  auto after = f.ask<ok_atom>(backend, probe_atom::value);
  CHECK_FALSE(after); // the backend actor is gone
}

TEST_CASE("a backend actor that exits abnormally is restarted", "[supervisor]") {
  two_backends f;
  f.seed_data();
  auto status = f.ask<lifecycle_event>(f.rt.supervisors.at(0), status_atom::value);
  REQUIRE(status);
  REQUIRE(status->handle);
  caf::anon_send_exit(status->handle, caf::exit_reason::kill);
  f.run();
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  CHECK(f.get("a")->backend == "secondary");
  f.advance(100ms);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
  auto again = f.ask<lifecycle_event>(f.rt.supervisors.at(0), status_atom::value);
  REQUIRE(again);
  CHECK(again->handle != status->handle);
  CHECK(f.get("a")->backend == "primary");
}
