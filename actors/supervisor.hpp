// Spawning the supervisor of one backend.
#pragma once

#include "actors/actors.hpp"
#include "actors/backend_actor.hpp"
#include "core/expected.hpp"
#include "health/restart_policy.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace lifeline {

class backend;
class metrics_sink;

/// Makes a fresh backend instance; called at start and on every restart.
/// It must not block for long (connect lazily, in the backend's calls).
using backend_factory = std::function<expected<std::shared_ptr<backend>>()>;

struct supervisor_config {
  /// The backend's configured name (unique, used in logs, metrics, replies).
  std::string name;
  backend_factory factory;
  backend_actor_options actor;
  restart_config restart;
  /// Deadline for the probe that decides whether a failed backend is back.
  std::chrono::steady_clock::duration probe_timeout = std::chrono::seconds(5);
  /// Seed for the backoff jitter; 0 picks a random one.
  uint64_t seed = 0;
  std::shared_ptr<metrics_sink> metrics;
};

/// Spawns a supervisor that starts the backend actor at once and reports
/// every lifecycle transition to `coordinator` (may be null) and the log.
supervisor_actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg,
                                  coordinator_actor coordinator);

} // namespace lifeline
