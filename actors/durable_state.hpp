// The actor that owns the coordinator's files: the version ceiling and each
// backend's replica marker. Each store syncs to disk; the coordinator runs on
// CAF's shared scheduler, where an fsync would stall every actor sharing the
// worker thread, so it only sends this actor asynchronous requests. Both
// files' names are spelled here and nowhere else.
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace lifeline {

/// The directory holding backend `name`'s handoff log and replica marker.
std::string backend_directory(const std::string& root, const std::string& name);

/// Owns `root`/version and `root`/<backend>/replica (creating `root`).
/// `detached`: its own thread; tests on the deterministic scheduler pass
/// false.
durable_state_actor spawn_durable_state(caf::actor_system& sys, std::string root,
                                        bool detached = true);

} // namespace lifeline
