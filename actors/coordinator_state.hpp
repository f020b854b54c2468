// The coordinator's private state, shared by its two source files:
// coordinator.cpp (routing: reads with fallback, writes fanned out) and
// coordinator_recovery.cpp (versions, handoff, catch-up, rebuild, checks).
// Included by those two only: it pulls in caf/all.hpp.
#pragma once

#include "actors/coordinator.hpp"
#include "health/deadline_queue.hpp"
#include "metrics/metrics.hpp"
#include "replication/version_clock.hpp"

#include <caf/all.hpp>

#include <memory>
#include <random>
#include <set>
#include <unordered_map>

namespace lifeline::detail {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;
using duration = clock_type::duration;

/// The coordinator's view of one backend.
struct slot {
  std::string name;
  std::string kind;
  capabilities caps;
  capabilities preferred; ///< Operations it serves ahead of the priority order.
  lifecycle_state lifecycle = lifecycle_state::starting;
  backend_actor handle;
  /// Its supervisor (the sender of its lifecycle events), for operator
  /// requests; null until it first reports.
  supervisor_actor supervisor;
  circuit_breaker breaker;
  circuit_state reported = circuit_state::closed; ///< Last state logged.
  std::string last_error;
  int64_t since_unix_ms = 0;
  uint32_t restarts = 0;
  bool probing = false;
  /// Requests sent to it and not yet answered (timed-out ones included: they
  /// still hold a place in its queue), and the bound on them (0: none).
  uint32_t calls = 0;
  uint32_t max_calls = 0;
  bool saturated() const { return max_calls > 0 && calls >= max_calls; }

  // -- replication (only with a handoff directory) ------------------------------
  handoff_actor hints;
  bool hints_loaded = false;
  /// The marker it held when last in sync ("" = unknown: rebuild it).
  std::string marker;
  /// The marker the running job stores (adopt or rebuild).
  std::string next_marker;
  replica_state replica = replica_state::in_sync;
  uint64_t pending = 0;          ///< Entries in its handoff log.
  uint64_t appended_total = 0;   ///< Entries ever appended (this process).
  uint32_t appends_in_flight = 0;
  uint64_t job = 0;              ///< Current recovery job (stale reports differ).
  bool job_running = false;
  bool deciding = false;         ///< Asking it for its marker.
  bool needs_rebuild = false;    ///< It missed a write with no hint, or diverged.
  bool waiting_for_peer = false; ///< Needs a rebuild; no peer is in sync.
  bool settled = true;           ///< Its first recovery is decided (ready_atom).
  uint64_t rebuilt = 0;          ///< Documents copied by the current rebuild.
  /// Collections with a create or drop waiting in its log: later writes to
  /// them wait there too, in order (cleared once it is in sync).
  std::set<std::string> queued_collections;
  uint64_t rebuild_requests = 0; ///< Times a rebuild was asked for.
  uint64_t job_rebuild_requests = 0; ///< rebuild_requests when the job started.
  bool hints_broken = false;     ///< Its handoff log cannot be used.
};

struct coordinator_state {
  coordinator_config cfg;
  std::vector<slot> slots;
  std::mt19937_64 rng;
  bool in_outage = false;
  /// Attempt deadlines, checked by one timer (see deadline_queue.hpp).
  deadline_queue deadlines;
  time_point next_tick = time_point::max();
  /// Callers of ready_atom waiting for every backend to leave `starting`.
  std::vector<caf::typed_response_promise<health_report>> awaiting_ready;

  /// Write versions; durable in the handoff directory if there is one.
  version_clock versions;
  std::string versions_error; ///< Set if the version file cannot be read.
  /// Versions of the writes in flight (tombstones below the lowest are safe
  /// to purge once every backend is in sync).
  std::multiset<uint64_t> writes_in_flight;
  /// No backend has ever been in sync (no markers): the first backend in
  /// priority order is taken as it is, the others are rebuilt from it.
  bool fresh = false;
  /// Backends with a handoff directory that are not configured now (a run
  /// with fewer backends): they miss every write made meanwhile, so their
  /// markers go with the first write.
  std::vector<std::string> left_out;
  /// Running consistency checks by ticket.
  std::unordered_map<uint64_t, caf::typed_response_promise<consistency_report>> checks;
  uint64_t next_ticket = 0;
  static inline const char* name = "lifeline.coordinator";

  bool handoff() const { return !cfg.handoff_dir.empty(); }
};

using coordinator_pointer = coordinator_actor::stateful_pointer<coordinator_state>;

inline time_point now(coordinator_pointer self) { return self->clock().now(); }
inline metrics_sink& metrics(coordinator_pointer self) { return *self->state.cfg.metrics; }
int64_t unix_ms();

/// Logs and counts a circuit transition since the last call.
void sync_circuit(coordinator_pointer self, slot& s, std::string_view cause = {});
/// Delivers pending ready_atom replies once every backend has settled.
void deliver_ready(coordinator_pointer self);

// -- coordinator_recovery.cpp -------------------------------------------------------

/// Opens the handoff logs and the version file (with a handoff directory).
void start_replication(coordinator_pointer self);
/// Spawns slot #i's handoff log (with a handoff directory).
void attach_hints(coordinator_pointer self, size_t i);
/// The next write version, or the error that keeps it from being stored.
caf::expected<uint64_t> next_version(coordinator_pointer self);
/// Stores `entry` (a write another backend applied) durably in slot #i's
/// handoff log, then calls `done` with an empty string or why it failed. If
/// it fails, the backend lacks a write others hold: it will be rebuilt.
void store_hint(coordinator_pointer self, size_t i, const handoff_entry& entry,
                std::function<void(std::string)> done);
/// The first write without the left-out backends: they must be rebuilt.
void forget_left_out(coordinator_pointer self);
/// Starts bringing slot #i back in sync if it is up and not in sync.
void maybe_recover(coordinator_pointer self, size_t i);
/// A backend came up (again): check its marker before it serves reads.
void on_backend_up(coordinator_pointer self, size_t i);
void on_progress(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t copied,
                 uint64_t pending, uint64_t replayed);
void on_recovered(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t drained,
                  caf::error& err);
caf::result<consistency_report> start_check(coordinator_pointer self);
void on_check_done(coordinator_pointer self, uint64_t ticket, consistency_report& report);
void schedule_purge(coordinator_pointer self);
void on_purge(coordinator_pointer self);
void set_replica(coordinator_pointer self, slot& s, replica_state state, std::string_view why);

} // namespace lifeline::detail
