// The composition root for embedders: spawn a coordinator and one supervised
// backend actor per configured backend inside your own caf::actor_system.
//
//   caf::actor_system sys{cfg};
//   lifeline::runtime_config rc;
//   rc.backends.push_back({"primary", [] { return lifeline::make_shared_backend<lifeline::memory_backend>(); }});
//   auto rt = lifeline::spawn_runtime(sys, std::move(rc));
//   // ... request(rt.coordinator, ...) ...
//   rt.stop();
#pragma once

#include "actors/actors.hpp"
#include "actors/coordinator.hpp"
#include "actors/supervisor.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lifeline {

struct backend_config {
  std::string name;
  backend_factory factory;
  backend_actor_options actor = {};
  restart_config restart = {};
  /// Calls in flight to it at most (0: no bound); unset:
  /// coordinator.backend_max_in_flight.
  std::optional<uint32_t> max_in_flight;
};

struct runtime_config {
  /// In priority order: reads go to the first healthy one.
  std::vector<backend_config> backends;
  /// Its `backends` list is filled from the one above.
  coordinator_config coordinator;
  /// Shared by the coordinator and the supervisors; null discards metrics.
  std::shared_ptr<metrics_sink> metrics;
  /// Seeds the jitter of probes and restarts; 0 picks random seeds.
  uint64_t seed = 0;
};

/// Owns what spawn_runtime started: destroying it stops it (the actor
/// system waits for every actor before it shuts down, so a runtime left
/// running would keep the process from exiting).
struct runtime {
  coordinator_actor coordinator;
  std::vector<supervisor_actor> supervisors;
  /// The coordinator's routing snapshot, for direct reads
  /// (actors/direct_reads.hpp: the fast way to get and search).
  std::shared_ptr<routing_board> routes;

  runtime() = default;
  runtime(runtime&&) = default;
  runtime& operator=(runtime&& other) {
    if (this != &other) {
      stop();
      coordinator = std::move(other.coordinator);
      supervisors = std::move(other.supervisors);
      routes = std::move(other.routes);
    }
    return *this;
  }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  ~runtime() { stop(); }

  /// Blocks the calling (non-actor) thread until every backend has reported
  /// its first lifecycle state, at most `timeout`; returns the health then.
  /// For start-up only: it is a blocking round trip. From inside an actor,
  /// request `ready_atom` from the coordinator instead.
  caf::expected<health_report> await_ready(caf::actor_system& sys,
                                           std::chrono::milliseconds timeout
                                           = std::chrono::seconds(30));

  /// Stops the supervisors (and with them the backend actors) and the
  /// coordinator. Safe to call twice.
  void stop();
};

runtime spawn_runtime(caf::actor_system& sys, runtime_config cfg);

/// The supervisor settings of backend `b` (the n-th one: its jitter seed is
/// `seed + n`, or random with seed 0). Shared with cluster nodes.
supervisor_config supervisor_config_of(const backend_config& b, std::shared_ptr<metrics_sink> metrics,
                                       uint64_t seed, uint64_t n);

/// Scheduler settings that suit Lifeline: an idle CAF worker thread goes to
/// sleep on a condition variable (and is woken by the next message) instead
/// of polling every 50 us for 25 ms. Backend replies come from detached
/// worker threads, so each one used to wait out that polling interval:
/// get-by-id through PostgreSQL is about 1.4x faster with it (see
/// docs/BENCHMARKS.md). Call on your config before creating the actor system.
void tune_scheduler(caf::actor_system_config& cfg);

/// A factory that hands out the same instance on every (re)start: for stores
/// whose data lives in the object itself (memory_backend) or that reconnect
/// on their own. The restarted actor gets the same data.
template <class Backend>
backend_factory shared_instance(std::shared_ptr<Backend> instance) {
  return [instance]() -> expected<std::shared_ptr<backend>> {
    return std::shared_ptr<backend>{instance};
  };
}

/// Adapts a constructor to a backend_factory's result type.
template <class Backend, class... Ts>
expected<std::shared_ptr<backend>> make_shared_backend(Ts&&... xs) {
  return std::shared_ptr<backend>{std::make_shared<Backend>(std::forward<Ts>(xs)...)};
}

} // namespace lifeline
