#include "actors/runtime.hpp"

#include "actors/routing_snapshot.hpp"
#include "metrics/metrics.hpp"

#include <caf/all.hpp>

namespace lifeline {

runtime spawn_runtime(caf::actor_system& sys, runtime_config cfg) {
  if (!cfg.metrics) cfg.metrics = std::make_shared<null_metrics>();
  auto ccfg = cfg.coordinator;
  ccfg.backends.clear();
  for (auto& b : cfg.backends) {
    ccfg.backends.push_back(b.name);
    if (b.max_in_flight) ccfg.max_in_flight_of[b.name] = *b.max_in_flight;
  }
  ccfg.metrics = cfg.metrics;
  if (cfg.seed != 0) ccfg.seed = cfg.seed;
  runtime rt;
  if (!ccfg.routes) ccfg.routes = std::make_shared<routing_board>();
  rt.routes = ccfg.routes;
  rt.coordinator = spawn_coordinator(sys, std::move(ccfg));
  uint64_t n = 0;
  for (auto& b : cfg.backends)
    rt.supervisors.push_back(
      spawn_supervisor(sys, supervisor_config_of(b, cfg.metrics, cfg.seed, ++n), rt.coordinator));
  return rt;
}

supervisor_config supervisor_config_of(const backend_config& b, std::shared_ptr<metrics_sink> metrics,
                                       uint64_t seed, uint64_t n) {
  supervisor_config scfg;
  scfg.name = b.name;
  scfg.factory = b.factory;
  scfg.actor = b.actor;
  scfg.restart = b.restart;
  scfg.metrics = std::move(metrics);
  scfg.seed = seed != 0 ? seed + n : 0;
  return scfg;
}

caf::expected<health_report> runtime::await_ready(caf::actor_system& sys,
                                                  std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<health_report> out = caf::make_error(caf::sec::request_timeout);
  self->request(coordinator, timeout, ready_atom::value)
    .receive([&](health_report& r) { out = std::move(r); },
             [&](caf::error& err) { out = std::move(err); });
  return out;
}

void tune_scheduler(caf::actor_system_config& cfg) {
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
}

void runtime::stop() {
  for (auto& s : supervisors)
    if (s) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  if (coordinator) caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
  supervisors.clear();
  coordinator = coordinator_actor{};
}

} // namespace lifeline
