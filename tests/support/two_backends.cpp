#include "support/two_backends.hpp"

#include <catch2/catch.hpp>

namespace lifeline::testing {

using namespace std::chrono_literals;

runtime_config two_backends::defaults() {
  runtime_config cfg;
  cfg.coordinator.request_timeout = 5s;
  cfg.coordinator.attempt_timeout = 1s;
  cfg.coordinator.probe_interval = 10s;
  cfg.coordinator.probe_jitter = 0;
  cfg.coordinator.probe_timeout = 1s;
  cfg.coordinator.circuit.consecutive_failures = 3;
  cfg.coordinator.circuit.open_duration = 5s;
  cfg.coordinator.circuit.half_open_trials = 1;
  cfg.coordinator.circuit.half_open_successes = 2;
  // No background repair round unless a test asks for one (it would run
  // whenever a test moves the clock past the interval).
  cfg.coordinator.repair_interval = 0s;
  cfg.seed = 1;
  return cfg;
}

two_backends::two_backends(const tweak& change) {
  auto cfg = defaults();
  restart_config restart;
  restart.initial_backoff = 100ms;
  restart.max_backoff = 1s;
  restart.multiplier = 2;
  restart.jitter = 0;
  restart.max_restarts = 3;
  restart.window = 60s;
  restart.failed_probe_interval = 30s;
  // Non-detached workers: everything runs on the deterministic scheduler.
  backend_actor_options on_scheduler{1, false};
  cfg.backends.push_back(
    {"primary", shared_instance(primary), on_scheduler, restart});
  cfg.backends.push_back(
    {"secondary", shared_instance(secondary), on_scheduler, restart});
  cfg.metrics = metrics;
  if (change) change(cfg);
  config = cfg;
  rt = spawn_runtime(sys(), std::move(cfg));
  run();
  auto ready = ask<health_report>(rt.coordinator, ready_atom::value);
  REQUIRE(ready);
}

void two_backends::respawn() {
  rt.stop();
  run();
  rt = spawn_runtime(sys(), config);
  run();
  auto ready = ask<health_report>(rt.coordinator, ready_atom::value);
  REQUIRE(ready);
}

two_backends::~two_backends() {
  rt.stop();
  run();
}

backend_health two_backends::health_of(const std::string& name) {
  auto report = ask<health_report>(coordinator(), health_atom::value);
  REQUIRE(report);
  for (auto& b : report->backends)
    if (b.name == name) return b;
  FAIL("no backend named " << name);
  return {};
}

void two_backends::crash_primary_until_failed() {
  using namespace std::chrono_literals;
  primary->inject(fault::throw_exception, operation::get);
  auto delay = std::chrono::milliseconds(100);
  for (int crash = 1; crash <= 3; ++crash) { // max_restarts = 3
    REQUIRE(get("a")->backend == "secondary");
    REQUIRE(health_of("primary").lifecycle == lifecycle_state::restarting);
    advance(delay);
    REQUIRE(health_of("primary").lifecycle == lifecycle_state::up);
    delay *= 2;
  }
  REQUIRE(get("a")->backend == "secondary"); // crash #4: give up
  REQUIRE(health_of("primary").lifecycle == lifecycle_state::failed);
}

void two_backends::seed_data() {
  auto created = ask<write_receipt>(coordinator(), create_atom::value, collection_spec{"c", 2, metric::l2});
  REQUIRE(created);
  REQUIRE(created->applied() == 2);
  auto written = ask<write_receipt>(coordinator(), upsert_atom::value, std::string{"c"},
                                    std::vector<document>{{"a", {0, 0}, "A", "{}", 0},
                                                          {"b", {1, 1}, "B", "{}", 0}});
  REQUIRE(written);
  REQUIRE(written->applied() == 2);
}

} // namespace lifeline::testing
