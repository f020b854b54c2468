// Spawning the actor that owns one backend's handoff log (the replica
// marker beside it belongs to the durable_state actor).
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace lifeline {

/// Opens (or creates) the log in `directory`. A log that cannot be opened
/// (damaged) is moved aside to `directory`.damaged-<time> and a fresh one is
/// started without a marker, so the backend is rebuilt from a peer.
/// `detached`: give it its own thread (every append syncs to disk); tests on
/// the deterministic scheduler pass false.
handoff_actor spawn_handoff(caf::actor_system& sys, std::string directory, bool detached = true);

} // namespace lifeline
