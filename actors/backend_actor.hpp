// Spawning the actor that wraps one backend: a pool actor in front of N
// worker actors, each of which calls the (possibly blocking) backend.
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <memory>
#include <optional>

namespace lifeline {

class backend;

struct backend_actor_options {
  /// Worker actors, i.e. calls in flight at once; 0 means
  /// backend::concurrency().
  uint32_t workers = 0;
  /// Give each worker its own thread; unset means backend::blocking().
  /// Tests that run on CAF's deterministic scheduler pass false.
  std::optional<bool> detached;
};

/// Spawns the pool and its workers. The pool hands each request to the worker
/// with the fewest calls in flight, so a slow call holds only its own worker.
/// A single scheduled worker needs no pool: it is returned as it is (one hop
/// less for in-memory stores).
/// When a worker crashes (an exception, or a reply that fails an invariant),
/// the pool fails every pending request at once and exits with the worker's
/// reason, for its supervisor to restart.
backend_actor spawn_backend_actor(caf::actor_system& sys, std::shared_ptr<backend> store,
                                  backend_actor_options options = {});

} // namespace lifeline
