// A recovery job brings one backend back in sync after it was down: it
// rebuilds the backend from a healthy peer if it lost its data (or was never
// in sync), stores the backend's new replica marker, then replays its
// handoff log in order. Meanwhile the backend takes new writes directly; the
// versions make the copy, the replay and the new writes converge in any
// order. The coordinator spawns one job per backend and decides, from the
// job's report, whether the backend may serve reads again.
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

namespace lifeline {
class metrics_sink;
} // namespace lifeline

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace lifeline {

struct recovery_plan {
  uint32_t index = 0;          ///< The backend's slot in the coordinator.
  uint64_t job = 0;            ///< Echoed in every report (stale ones are ignored).
  std::string backend;         ///< Name (its marker's key, and for the log).
  backend_actor target;
  handoff_actor hints;
  /// Where the marker the target now holds is recorded.
  durable_state_actor markers;
  /// Rebuild from this peer first (null: replay only).
  backend_actor peer;
  std::string peer_name;
  /// Before the replay, store this marker in the target and in `markers`
  /// (empty: keep the marker it has).
  std::string new_marker;
  /// Rebuild: every write still in flight has a version above this, so a
  /// document the peer lacks is deleted from the target at this version.
  uint64_t floor = 0;
  /// Skip replayed entries the target refuses (client errors) instead of
  /// stopping: right after a rebuild they were refused everywhere.
  bool skip_refused = false;
  /// Documents per rebuild page, entries per replay page.
  uint32_t page = 1000;
  std::chrono::steady_clock::duration call_timeout = std::chrono::seconds(30);
  /// Counts documents a rebuild skips (null: not counted).
  std::shared_ptr<metrics_sink> metrics;
};

/// Reports to `coordinator`: progress_atom while it works, then one
/// recovered_atom (with an error if it stopped early), and quits.
void spawn_recovery(caf::actor_system& sys, recovery_plan plan, coordinator_actor coordinator);

} // namespace lifeline
