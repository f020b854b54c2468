// The coordinator's view of one backend, in two parts: how requests are
// routed to it (lifecycle, circuit, in-flight calls) and how far its copy of
// the data is (replica state, marker, handoff, rebuild). Whether it may
// serve is one set of flags, after Envoy's Host::HealthFlag: each flag is
// set or cleared by the transition that causes it (a lifecycle event, a
// breaker outcome, an operator hold, a replica change), and the one
// time-based transition (an open circuit turning half-open) happens only in
// refresh(now), which the coordinator calls once before it routes. Routing,
// health, rebuild peers, checks and purges all ask the same questions
// below, so they cannot disagree. Getters have no side effects.
#pragma once

#include "actors/actors.hpp"
#include "health/circuit_breaker.hpp"
#include "health/latency_tracker.hpp"
#include "metrics/metrics.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace lifeline::detail {

/// Why a backend may not serve (a bit each).
enum class health_flag : uint8_t {
  not_up = 1 << 0,        ///< Its lifecycle is not `up` (or it has no actor).
  held = 1 << 1,          ///< An operator holds it down.
  circuit_open = 1 << 2,  ///< Its circuit refuses calls.
  no_trial_slot = 1 << 3, ///< Half-open, and every trial slot is taken.
  not_in_sync = 1 << 4,   ///< It lacks acknowledged writes (catching up, rebuilding).
  saturated = 1 << 5,     ///< At its bound of calls in flight (load, not health).
  incapable = 1 << 6,     ///< It does not support the operation asked about.
};

class health_flags {
public:
  constexpr health_flags() = default;
  constexpr health_flags(std::initializer_list<health_flag> fs) {
    for (auto f : fs) bits_ |= static_cast<uint8_t>(f);
  }
  constexpr bool has(health_flag f) const { return (bits_ & static_cast<uint8_t>(f)) != 0; }
  constexpr bool any_of(health_flags mask) const { return (bits_ & mask.bits_) != 0; }
  constexpr void set(health_flag f, bool on) {
    if (on) bits_ |= static_cast<uint8_t>(f);
    else bits_ &= static_cast<uint8_t>(~static_cast<uint8_t>(f));
  }
  constexpr bool empty() const { return bits_ == 0; }

private:
  uint8_t bits_ = 0;
};

/// What keeps a backend from serving reads (saturation is load: a read
/// then goes to the next backend, or is shed as `overloaded`).
inline constexpr health_flags read_blockers{health_flag::not_up, health_flag::held,
                                            health_flag::circuit_open, health_flag::no_trial_slot,
                                            health_flag::not_in_sync, health_flag::incapable};
/// What keeps a write from being sent to it (it then waits in its handoff
/// log). A write goes even while the half-open trial slots are taken: a
/// skipped write is a missed write.
inline constexpr health_flags write_blockers{health_flag::not_up, health_flag::held,
                                             health_flag::circuit_open, health_flag::incapable};
/// What keeps it from being copied from, compared or purged: it must be up
/// and hold every acknowledged write; its circuit does not matter.
inline constexpr health_flags data_blockers{health_flag::not_up, health_flag::held,
                                            health_flag::not_in_sync, health_flag::incapable};

/// How requests reach one backend.
class routing_slot {
public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  routing_slot(circuit_breaker_config circuit, uint32_t max_calls);

  // -- transitions ------------------------------------------------------------

  /// The time-based transition (open -> half-open once its time is up).
  void refresh(time_point now);
  /// Its supervisor reported it up with a fresh actor: a clean record.
  void came_up(backend_actor handle, capabilities caps, capabilities preferred);
  /// Its supervisor reported another lifecycle state.
  void left_up(lifecycle_state state);
  void set_supervisor(supervisor_actor s) { supervisor_ = std::move(s); }
  /// An operator holds it down (true) or releases it.
  void hold(bool on);
  /// Asks its circuit to admit one call (may take a trial slot).
  permit admit(time_point now);
  /// The outcome of a call admitted by `p`.
  void record(permit p, call_result result, duration latency, time_point now);
  void record_probe(call_result result, time_point now);
  void call_sent();
  void call_answered();
  /// Marks a probe as running; false if it should not be probed now.
  bool start_probe();
  void probe_done() { probing_ = false; }

  // -- getters (no side effects) -----------------------------------------------

  /// Every flag but not_in_sync (the replica's) and incapable (per operation).
  health_flags flags() const { return flags_; }
  lifecycle_state lifecycle() const { return lifecycle_; }
  /// The circuit as of the last transition or refresh.
  circuit_state circuit() const { return circuit_; }
  const backend_actor& handle() const { return handle_; }
  const supervisor_actor& supervisor() const { return supervisor_; }
  capabilities caps() const { return caps_; }
  capabilities preferred() const { return preferred_; }
  /// Capabilities are known once it has been up; until then it may serve
  /// anything.
  bool known_incapable(operation op) const { return caps_.bits() != 0 && !caps_.has(op); }
  uint32_t calls() const { return calls_; }
  uint32_t max_calls() const { return max_calls_; }

private:
  void circuit_changed(time_point now);
  void lifecycle_changed();

  lifecycle_state lifecycle_ = lifecycle_state::starting;
  backend_actor handle_;
  /// Its supervisor (the sender of its lifecycle events), for operator
  /// requests; null until it first reports.
  supervisor_actor supervisor_;
  capabilities caps_;
  capabilities preferred_; ///< Operations it serves ahead of the priority order.
  circuit_breaker breaker_;
  circuit_state circuit_ = circuit_state::closed;
  bool held_ = false;
  bool probing_ = false;
  /// Requests sent to it and not yet answered (timed-out ones included: they
  /// still hold a place in its queue), and the bound on them (0: none).
  uint32_t calls_ = 0;
  uint32_t max_calls_ = 0;
  health_flags flags_{health_flag::not_up};
};

/// How far one backend's copy of the data is (only with a handoff directory;
/// without one every backend counts as in sync).
struct replica_slot {
  replica_state state = replica_state::in_sync;
  handoff_actor hints;
  bool hints_loaded = false;     ///< Its handoff log is open (status answered).
  bool hints_loading = false;    ///< Its log took longer than handoff_load_timeout to open.
  bool hints_broken = false;     ///< Its handoff log cannot be used.
  bool marker_loaded = false;    ///< Its stored marker has been read.
  bool over_limit = false;       ///< Its log was dropped over its limit (warned once).
  /// The marker it held when last in sync ("" = unknown: rebuild it).
  std::string marker;
  /// The marker the running job stores (adopt or rebuild).
  std::string next_marker;
  uint64_t pending = 0;          ///< Entries in its handoff log.
  uint64_t appended_total = 0;   ///< Entries ever appended (this process).
  uint32_t appends_in_flight = 0;
  uint64_t job = 0;              ///< Current recovery job (stale reports differ).
  bool job_running = false;
  bool deciding = false;         ///< Asking it for its marker.
  bool checking_hints = false;   ///< A recovery failed: asking its log whether it was lost.
  bool needs_rebuild = false;    ///< It missed a write with no hint, or diverged.
  bool waiting_for_peer = false; ///< Needs a rebuild; no peer is in sync.
  bool settled = true;           ///< Its first recovery is decided (ready_atom).
  uint64_t rebuilt = 0;          ///< Documents copied by the current rebuild.
  /// The current catch-up or rebuild (health, metrics and the log show its
  /// progress): when it began (epoch: none), entries replayed or documents
  /// copied, out of how many (0: unknown), and its last progress line.
  std::chrono::steady_clock::time_point progress_since{};
  uint64_t progress_done = 0;
  uint64_t progress_total = 0;
  std::chrono::steady_clock::time_point progress_logged{};
  /// The slot the current job copies from (a rebuild), if any.
  std::optional<size_t> peer;
  /// Its store may have lost acknowledged writes (a database failover) and
  /// its verification has started (cleared once the store says it is over).
  bool verifying = false;
  /// Collections with a create or drop waiting in its log: later writes to
  /// them wait there too, in order (cleared once it is in sync).
  std::set<std::string> queued_collections;
  /// On a cluster follower: a replica whose state only the leader knows.
  bool leader_knows = false;
  /// On a cluster follower without a leader: etcd's last word on this
  /// shared database (0: none yet, 1: its marker is gone, 2: it is there).
  uint8_t shared_answer = 0;
  /// With shared markers: whether its stored marker is kept, being
  /// removed, or removed (it missed a write), and the writes waiting for
  /// the removal.
  enum class stored_marker : uint8_t { kept, removing, removed } stored = stored_marker::kept;
  std::vector<std::function<void(std::string)>> after_unmark;
  std::chrono::steady_clock::time_point unmarked_at{}; ///< When it was removed.
  uint64_t rebuild_requests = 0; ///< Times a rebuild was asked for.
  uint64_t job_rebuild_requests = 0; ///< rebuild_requests when the job started.

  bool in_sync() const { return state == replica_state::in_sync; }
  /// It lacks a write others hold and no log keeps it: only a rebuild helps.
  void must_rebuild() {
    needs_rebuild = true;
    ++rebuild_requests;
    marker.clear();
  }
  /// A recovery job starts: `new_marker` is what it stores ("" keeps it).
  uint64_t start_job(std::string new_marker) {
    next_marker = std::move(new_marker);
    job_rebuild_requests = rebuild_requests;
    job_running = true;
    waiting_for_peer = false;
    return ++job;
  }
  /// A rebuild was asked for while the job ran: its result is stale.
  bool job_outdated() const { return rebuild_requests != job_rebuild_requests; }
  /// Writes arrived in its log during the replay: another round is needed.
  bool missed_during_job(uint64_t drained) const {
    return appends_in_flight > 0 || appended_total > drained;
  }
  /// Nothing is left to replay.
  void drained() {
    pending = 0;
    queued_collections.clear();
  }
};

/// One backend: its name, what routing needs and what replication needs.
struct slot {
  std::string name;
  std::string kind;
  std::string last_error;
  int64_t since_unix_ms = 0;
  uint32_t restarts = 0;
  circuit_state reported = circuit_state::closed; ///< Last circuit state logged.
  routing_slot routing;
  replica_slot replica;
  /// The store, while up and in this process, for direct reads.
  std::shared_ptr<lifeline::backend> store;
  /// Recent latency of its successful calls, per operation, and whether it
  /// is demoted (tried last) for that operation's reads because it is far
  /// slower than its peers (actors/coordinator_hedging.cpp).
  std::array<latency_tracker, operation_count> latency;
  std::array<bool, operation_count> demoted{};
  /// A replicated database's primary and standbys, as of the last probe
  /// (kept while it is down: its last known view).
  bool has_database = false;
  database_status database;
  /// Per standby: its read and refusal counts at the last probe (metrics
  /// take the difference).
  std::map<std::string, std::pair<uint64_t, uint64_t>> standby_counts;

  slot(std::string name, circuit_breaker_config circuit, uint32_t max_calls,
       latency_tracker_config window = {})
    : name(std::move(name)), routing(circuit, max_calls) {
    latency.fill(latency_tracker{window});
  }

  // -- the one eligibility view ----------------------------------------------------

  /// Every flag that holds now, but incapable.
  health_flags flags() const {
    auto f = routing.flags();
    f.set(health_flag::not_in_sync, !replica.in_sync());
    return f;
  }
  /// Every flag that holds now, for operation `op`.
  health_flags flags(operation op) const {
    auto f = flags();
    f.set(health_flag::incapable, !routing.caps().has(op));
    return f;
  }
  /// Healthy enough to be given a read of `op` (it may still be saturated).
  bool serves_reads(operation op) const { return !flags(op).any_of(read_blockers); }
  /// Given a read of `op` now: healthy and below its in-flight bound.
  bool takes_read(operation op) const {
    return serves_reads(op) && !routing.flags().has(health_flag::saturated);
  }
  /// Reachable for a write of `op` (see write_blockers).
  bool reachable_for_write(operation op) const { return !flags(op).any_of(write_blockers); }
  /// Up and holding every acknowledged write: compared by a consistency
  /// check, and needed before its own tombstones may be purged.
  bool holds_data() const { return !flags().any_of(data_blockers); }
  /// A backend to rebuild another one from: holds the data and can scan.
  bool rebuild_peer() const { return !flags(operation::scan).any_of(data_blockers); }
  bool saturated() const { return routing.flags().has(health_flag::saturated); }
};

} // namespace lifeline::detail
