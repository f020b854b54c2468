// Behaviour that needs real threads: backends that block. Detached workers
// run on their own threads; the test waits on conditions with generous
// bounds, never on sleeps, and asserts no timings.
#include "actors/backend_actor.hpp"
#include "actors/errors.hpp"
#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"
#include "metrics/counting_metrics.hpp"
#include "support/faulty_backend.hpp"

#include "support/scoped_ask.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

} // namespace

TEST_CASE("a hung backend misses its attempt deadline and the read falls over",
          "[coordinator][threads]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto primary = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  auto secondary = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  auto metrics = std::make_shared<counting_metrics>();
  runtime_config rc;
  rc.backends.push_back({"primary", shared_instance(primary)});
  rc.backends.push_back({"secondary", shared_instance(secondary)});
  // A short attempt deadline while another backend is left; the last
  // candidate gets the rest of a long request deadline, so the test cannot
  // fail on a slow machine.
  rc.coordinator.attempt_timeout = 50ms;
  rc.coordinator.request_timeout = 60s;
  rc.coordinator.probe_interval = 1h;
  rc.metrics = metrics;
  auto rt = spawn_runtime(sys, rc);
  REQUIRE(rt.await_ready(sys));
  caf::scoped_actor self{sys};
  REQUIRE(ask<write_receipt>(self, rt.coordinator, create_atom::value,
                             collection_spec{"c", 2, metric::l2})->applied() == 2);
  REQUIRE(ask<write_receipt>(self, rt.coordinator, upsert_atom::value, std::string{"c"},
                             std::vector<document>{{"a", {1, 2}, "A", "{}", 0}})
            ->applied() == 2);
  primary->inject(fault::hang, operation::get);
  auto r = ask<served<document>>(self, rt.coordinator, get_atom::value, std::string{"c"},
                                 std::string{"a"});
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  CHECK(r->value.content == "A");
  CHECK(primary->wait_for_hung(1));
  CHECK(metrics->calls(operation::get, "primary", call_outcome::timeout) == 1);
  CHECK(metrics->fallbacks(operation::get, "primary", "secondary") == 1);
  primary->release();
  rt.stop();
}

TEST_CASE("a backend actor runs as many calls in parallel as it has workers",
          "[backend_actor][threads]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = std::make_shared<faulty_backend>(std::make_shared<memory_backend>(3));
  auto actor = spawn_backend_actor(sys, store, {0, true}); // 3 workers from concurrency()
  store->inject(fault::hang, operation::probe);
  caf::scoped_actor self{sys};
  for (int i = 0; i < 3; ++i) self->send(actor, probe_atom::value);
  // All three calls block at the same time: each runs on its own worker.
  CHECK(store->wait_for_hung(3));
  store->release();
  int errors = 0;
  for (int i = 0; i < 3; ++i)
    self->receive([&](caf::error& e) { errors += is(e, errc::timeout) ? 1 : 0; },
                  [&](ok_atom) {});
  CHECK(errors == 3);
  self->send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_CASE("a crashing worker fails every pending request at once", "[backend_actor][threads]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = std::make_shared<faulty_backend>(std::make_shared<memory_backend>(2));
  auto actor = spawn_backend_actor(sys, store, {2, true});
  caf::scoped_actor self{sys};
  self->monitor(actor);
  store->inject(fault::hang, operation::probe);
  self->send(actor, probe_atom::value);
  REQUIRE(store->wait_for_hung(1));
  store->inject(fault::throw_exception, operation::list_collections);
  self->send(actor, list_atom::value);
  // The crash answers the list call with its error, and the hung probe's
  // caller gets an error without waiting for the hang to end.
  std::vector<caf::error> errors;
  for (int i = 0; i < 2; ++i)
    self->receive([&](caf::error& e) { errors.push_back(e); });
  REQUIRE(errors.size() == 2);
  for (auto& e : errors)
    CHECK((is(e, errc::backend_error) || is(e, errc::backend_unavailable)));
  store->release();
  bool down = false;
  self->receive([&](caf::down_msg& m) { down = static_cast<bool>(m.reason); });
  CHECK(down);
}
