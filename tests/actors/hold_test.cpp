// An operator takes a backend out of service and puts it back (hold_atom,
// behind POST /v1/admin/backends/{name}/stop and /start), on CAF's
// deterministic scheduler.
#include "actors/errors.hpp"
#include "support/temp_dir.hpp"
#include "support/two_backends.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

caf::expected<ok_atom> hold(two_backends& f, const std::string& name, bool on) {
  return f.ask<ok_atom>(f.coordinator(), hold_atom::value, name, on);
}

lifecycle_event supervisor_status(two_backends& f, size_t i) {
  auto status = f.ask<lifecycle_event>(f.rt.supervisors.at(i), status_atom::value);
  REQUIRE(status);
  return *status;
}

/// Reads of every kind, all served by `backend` without an error.
void reads_served_by(two_backends& f, const std::string& backend) {
  for (auto id : {"a", "b", "a"}) {
    auto r = f.get(id);
    REQUIRE(r);
    CHECK(r->backend == backend);
  }
  auto hits = f.search({0, 0}, 1);
  REQUIRE(hits);
  CHECK(hits->backend == backend);
  REQUIRE(hits->value.size() == 1);
  CHECK(hits->value[0].id == "a");
}

struct scratch {
  temp_dir dir;
};

/// Two backends with handoff logs in a scratch directory.
struct replicated : scratch, two_backends {
  replicated()
    : two_backends([this](runtime_config& cfg) {
        cfg.coordinator.handoff_dir = dir.path() + "/handoff";
        cfg.coordinator.detached_io = false;
      }) {}
};

} // namespace

TEST_CASE("a held backend stays stopped and the other one serves, released, it serves again",
          "[supervisor][coordinator][hold]") {
  two_backends f;
  f.seed_data();
  reads_served_by(f, "primary");
  auto before = supervisor_status(f, 0);
  REQUIRE(before.handle);
  auto failures = f.metrics->calls("primary", call_outcome::failure)
                  + f.metrics->calls("primary", call_outcome::timeout);
  REQUIRE(hold(f, "primary", true));
  auto h = f.health_of("primary");
  CHECK(h.lifecycle == lifecycle_state::stopped);
  CHECK(h.last_error == "stopped by an operator");
  CHECK_FALSE(h.serving);
  CHECK(f.metrics->last_lifecycle("primary") == lifecycle_state::stopped);
  CHECK(supervisor_status(f, 0).state == lifecycle_state::stopped);
  // The backend actor is gone.
  CHECK_FALSE(f.ask<ok_atom>(before.handle, probe_atom::value));
  // Reads go to the other backend at once, with no error on the way.
  reads_served_by(f, "secondary");
  CHECK(f.metrics->calls("primary", call_outcome::failure)
          + f.metrics->calls("primary", call_outcome::timeout)
        == failures);
  CHECK(f.metrics->outages() == 0);
  // Idempotent.
  REQUIRE(hold(f, "primary", true));
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::stopped);
  // Past every restart backoff, the slow probe interval and a probe round,
  // nothing brings it back.
  for (auto step : {100ms, 1000ms, 10000ms, 60000ms}) {
    f.advance(step);
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::stopped);
  }
  CHECK(f.metrics->restarts("primary") == 0);
  CHECK(f.health_of("primary").restarts == 0);
  reads_served_by(f, "secondary");
  // Released: a fresh backend actor, up and serving.
  REQUIRE(hold(f, "primary", false));
  h = f.health_of("primary");
  CHECK(h.lifecycle == lifecycle_state::up);
  CHECK(h.serving);
  CHECK(h.last_error.empty());
  auto after = supervisor_status(f, 0);
  REQUIRE(after.handle);
  CHECK(after.handle != before.handle);
  reads_served_by(f, "primary");
  // Idempotent: starting a backend that is up changes nothing.
  REQUIRE(hold(f, "primary", false));
  CHECK(supervisor_status(f, 0).handle == after.handle);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
  // Its restarts are supervised as before.
  f.primary->inject(fault::throw_exception, operation::get);
  REQUIRE(f.get("a")->backend == "secondary");
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  f.primary->clear();
  f.advance(100ms);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
  CHECK(f.metrics->restarts("primary") == 1);
}

TEST_CASE("holding a restarting backend cancels its pending restart", "[supervisor][hold]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::throw_exception, operation::get);
  REQUIRE(f.get("a")->backend == "secondary");
  REQUIRE(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  f.primary->clear();
  REQUIRE(hold(f, "primary", true));
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::stopped);
  f.advance(100ms); // the restart timer fires: ignored
  f.advance(10s);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::stopped);
  CHECK(f.metrics->restarts("primary") == 0);
  REQUIRE(hold(f, "primary", false));
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
  reads_served_by(f, "primary");
}

TEST_CASE("a stale restart timer does not start a released backend early", "[supervisor][hold]") {
  int attempts = 0;
  bool broken = false;
  auto store = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  two_backends f{[&](runtime_config& c) {
    c.backends[0].factory = [&attempts, &broken, store]() -> expected<std::shared_ptr<backend>> {
      ++attempts;
      if (broken) return make_backend_error(errc::backend_unavailable, "cannot connect");
      return std::shared_ptr<backend>{store};
    };
  }};
  REQUIRE(attempts == 1);
  broken = true;
  // Crash it: a restart is due in 100 ms.
  REQUIRE(f.ask<ok_atom>(f.coordinator(), restart_atom::value, std::string{"primary"}));
  REQUIRE(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  REQUIRE(hold(f, "primary", true));
  f.advance(50ms);
  // Released while its factory fails: restarting, due 100 ms from now.
  REQUIRE(hold(f, "primary", false));
  CHECK(attempts == 2);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  // The old timer (due now) must not act; the new one does.
  f.advance(50ms);
  CHECK(attempts == 2);
  broken = false;
  f.advance(50ms);
  CHECK(attempts == 3);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
}

TEST_CASE("a held failed backend is not probed, starting it resets its restart policy",
          "[supervisor][hold]") {
  two_backends f;
  f.seed_data();
  f.crash_primary_until_failed();
  f.primary->clear(); // its probe would succeed now
  SECTION("held, the slow probe never runs") {
    REQUIRE(hold(f, "primary", true));
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::stopped);
    f.advance(30s);
    f.advance(60s);
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::stopped);
    reads_served_by(f, "secondary");
    REQUIRE(hold(f, "primary", false));
  }
  SECTION("started without a hold, it comes up at once") {
    REQUIRE(hold(f, "primary", false));
  }
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
  reads_served_by(f, "primary");
  // The intensity window starts afresh: a crash restarts it again.
  f.primary->inject(fault::throw_exception, operation::get);
  REQUIRE(f.get("a")->backend == "secondary");
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
}

TEST_CASE("holding a failed backend while its slow probe is in flight ignores the probe",
          "[supervisor][hold]") {
  two_backends f;
  f.seed_data();
  f.crash_primary_until_failed();
  f.primary->clear();
  // Fire the probe timer but deliver nothing else yet: the probe is sent,
  // its reply still queued when the hold arrives.
  f.sched().advance_time(30s);
  auto held = f.send<ok_atom>(f.coordinator(), hold_atom::value, std::string{"primary"}, true);
  f.run();
  REQUIRE(held.poll());
  f.advance(60s);
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::stopped);
  reads_served_by(f, "secondary");
  REQUIRE(hold(f, "primary", false));
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
}

TEST_CASE("unknown backends and backends whose supervisor has not reported",
          "[coordinator][hold]") {
  two_backends f;
  auto unknown = hold(f, "nope", true);
  REQUIRE_FALSE(unknown);
  CHECK(is(unknown.error(), errc::not_found));
  coordinator_config cfg;
  cfg.backends = {"ghost"};
  cfg.probe_interval = 1h;
  auto lonely = spawn_coordinator(f.sys(), cfg);
  f.run();
  auto ghost = f.ask<ok_atom>(lonely, hold_atom::value, std::string{"ghost"}, false);
  REQUIRE_FALSE(ghost);
  CHECK(is(ghost.error(), errc::backend_unavailable));
  caf::anon_send_exit(lonely, caf::exit_reason::user_shutdown);
  f.run();
}

TEST_CASE("writes while a backend is held wait in its handoff log and reach it when started",
          "[supervisor][coordinator][replication][hold]") {
  replicated f;
  f.seed_data();
  REQUIRE(hold(f, "secondary", true));
  auto w = f.upsert(document{"x", {2, 2}, "X", "{}", 0});
  REQUIRE(w);
  for (auto& b : w->backends)
    CHECK(b.outcome
          == (b.backend == "primary" ? write_outcome::applied : write_outcome::deferred));
  CHECK(f.health_of("secondary").pending == 1);
  CHECK_FALSE(f.secondary->inner().get("c", "x"));
  REQUIRE(hold(f, "secondary", false));
  f.advance(10s); // a probe round at the latest
  auto h = f.health_of("secondary");
  CHECK(h.lifecycle == lifecycle_state::up);
  CHECK(h.replica == replica_state::in_sync);
  CHECK(h.pending == 0);
  auto got = f.secondary->inner().get("c", "x");
  REQUIRE(got);
  CHECK(got->version == w->version);
  f.primary->inject(fault::unavailable, operation::get);
  auto served = f.get("x");
  REQUIRE(served);
  CHECK(served->backend == "secondary");
}
