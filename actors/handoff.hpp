// Spawning the actor that owns one backend's handoff log (the replica
// marker beside it belongs to the durable_state actor).
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace lifeline {

class metrics_sink;

struct handoff_options {
  /// The backend's name (log lines, metrics).
  std::string backend;
  /// Past this many bytes of entries not yet replayed, the log is dropped
  /// whole and the append says so (the backend is rebuilt instead); 0: no
  /// limit.
  uint64_t limit_bytes = 0;
  uint64_t segment_bytes = uint64_t{16} << 20;
  /// Below this many free bytes on the log's disk, a warning is logged and
  /// the metric flags it; 0: no watermark.
  uint64_t disk_free_warn_bytes = 0;
  std::shared_ptr<metrics_sink> metrics;
  /// Runs on the actor's thread before the log is loaded (tests hold a load
  /// back with it, to show that a slow load recovers).
  std::function<void()> before_load;
};

/// Opens (or creates) the log in `directory`. A log that cannot be opened
/// (damaged) is set aside in the same directory (its files renamed
/// <name>.<time>.damaged) and a fresh one is started; status says so
/// (handoff_status::lost), and the coordinator has the backend rebuilt.
/// `detached`: give it its own thread (every append syncs to disk); tests on
/// the deterministic scheduler pass false.
handoff_actor spawn_handoff(caf::actor_system& sys, std::string directory, bool detached = true,
                            handoff_options options = {});

} // namespace lifeline
