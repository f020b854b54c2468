// The coordinator's private state, shared by its source files:
// coordinator.cpp (the handler list and the call bookkeeping),
// coordinator_reads.cpp (reads with fallback), coordinator_writes.cpp
// (writes fanned out), coordinator_health.cpp (probes, lifecycle, health),
// coordinator_versions.cpp (write versions below a stored ceiling),
// coordinator_handoff.cpp (the handoff logs and the hints kept in them),
// coordinator_recovery.cpp (catch-up, adoption, rebuild),
// coordinator_purge.cpp (tombstone purges), coordinator_repair.cpp
// (consistency checks and repair) and coordinator_hedging.cpp (read order,
// hedge delays, latency outliers).
// Included by those only: it pulls in caf/all.hpp.
#pragma once

#include "actors/backend_slot.hpp"
#include "actors/coordinator.hpp"
#include "health/deadline_queue.hpp"
#include "health/hedge_budget.hpp"
#include "health/latency_outliers.hpp"
#include "metrics/metrics.hpp"
#include "replication/version_clock.hpp"

#include <caf/all.hpp>

#include <array>
#include <deque>
#include <optional>
#include <map>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>

namespace lifeline::detail {

using clock_type = std::chrono::steady_clock;
using time_point = clock_type::time_point;
using duration = clock_type::duration;

/// A write waiting for the next version ceiling to be stored.
struct waiting_write {
  std::function<void(caf::expected<uint64_t>)> resume;
  uint64_t ticket = 0; ///< Its deadline (see deadline_queue).
};

/// A check (or repair) job and who waits for it.
struct check_job {
  check_status status;
  std::vector<caf::typed_response_promise<check_status>> waiting;
  std::vector<caf::typed_response_promise<consistency_report>> waiting_report;
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

  /// Write versions: below a ceiling the durable_state actor stores (with a
  /// handoff directory), unbounded otherwise.
  version_lease versions;
  std::string versions_error; ///< Set if the version file cannot be read.
  bool ceiling_loaded = false;    ///< The stored ceiling has been read.
  bool ceiling_requested = false; ///< A ceiling store is in flight.
  /// Writes that wait for a version, in arrival order.
  std::deque<std::shared_ptr<waiting_write>> waiting_writes;
  /// Owns the version ceiling and the replica markers (handoff only).
  durable_state_actor durable;
  /// Left-out backends whose markers are being forgotten, and the writes
  /// whose acknowledgement waits for that.
  bool forgetting_left_out = false;
  std::vector<std::function<void()>> after_left_out;
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
  /// Hedges left to send (shared with the direct read path; see
  /// coordinator_config::hedges, which it is).
  std::shared_ptr<hedge_budget> hedges;
  /// Scratch for reconsidering demotions (coordinator_hedging.cpp).
  std::vector<latency_standing> standings;
  /// Per operation: when demotions are next reconsidered without a sample
  /// (samples age out, peers come and go).
  std::array<time_point, operation_count> demotions_due{};
  /// Check jobs by id, running and recently finished (coordinator_repair.cpp).
  std::map<uint64_t, check_job> checks;
  uint64_t next_ticket = 1;
  /// What the last published routing snapshot said (coordinator_direct.cpp).
  std::vector<uint64_t> routes_signature;
  uint64_t routes_generation = 0;
  /// A cluster follower's write leader: its name and coordinator (null
  /// while unknown or unreachable).
  std::string leader;
  coordinator_actor leader_coordinator;
  /// A cluster leader: the read leases it granted, by follower node.
  struct lease_grant {
    coordinator_actor follower;
    time_point until;
    std::set<std::string> names;    ///< The replicas it vouches for.
    std::set<std::string> revoking; ///< Of those, being revoked now.
  };
  std::map<std::string, lease_grant> grants;
  /// Leases the previous leader may have granted run until then.
  time_point inherited_until{};
  /// Writes a replica missed, waiting for the leases vouching for it to end.
  std::vector<std::pair<size_t, std::function<void()>>> unvouch_waits;
  /// A cluster follower: its lease runs until then (time_point{}: none).
  time_point lease_until{};
  bool lease_asked = false;
  /// Without a lease or leader: it trusts the shared database until then
  /// (etcd holds its marker), and how many of those checks are out.
  time_point shared_until{};
  int shared_asked = 0;
  static inline const char* name = "lifeline.coordinator";

  bool handoff() const { return !cfg.handoff_dir.empty(); }
};

using coordinator_pointer = coordinator_actor::stateful_pointer<coordinator_state>;

inline time_point now(coordinator_pointer self) { return self->clock().now(); }
inline metrics_sink& metrics(coordinator_pointer self) { return *self->state.cfg.metrics; }

// -- coordinator.cpp ----------------------------------------------------------------

int64_t unix_ms();

/// Logs and counts a circuit transition since the last call.
void sync_circuit(coordinator_pointer self, slot& s, std::string_view cause = {});
/// The time-based transitions of every backend, at one defined point: once
/// before a request is routed, health is reported or a peer is chosen.
void refresh(coordinator_pointer self);
/// Arms a deadline (see deadline_queue.hpp).
uint64_t arm(coordinator_pointer self, duration timeout, deadline_queue::callback on_expire);
/// A slot for backend `name`, with its in-flight bound from `cfg`.
slot make_slot(std::string name, const coordinator_config& cfg);
/// Every backend that could serve `op` is at its bound of calls in flight.
caf::error overloaded(coordinator_pointer self, operation op);
/// Why `s` cannot serve `op` right now (for the outage error), from its
/// flags as of the last refresh.
std::string why_not(const slot& s, operation op);
/// The outage error for `op` (logs the start of an outage once).
caf::error outage(coordinator_pointer self, operation op);
/// A request was served: logs the end of an outage once.
void served_ok(coordinator_pointer self);
/// How a call's error counts for the backend's circuit.
call_result classify(const caf::error& err);
/// How a call's error counts in the metrics.
call_outcome outcome_of(const caf::error& err);
/// Feeds the outcome of one call on slot #i into its circuit and metrics.
void record(coordinator_pointer self, size_t i, operation op, permit p, const caf::error& err,
            duration latency);
/// The error of a call that missed its deadline of `timeout`.
caf::error missed_deadline(duration timeout);
/// The timeout of a request to backend `h`, on top of the coordinator's own
/// deadlines: none in this process (a reply always comes, and a timer per
/// call costs), twice the request deadline for one on another node (a
/// message lost on the way, say one that could not be deserialized, is
/// never answered).
caf::duration call_bound(coordinator_pointer self, const backend_actor& h);
// -- coordinator_follower.cpp ----------------------------------------------------
/// A cluster follower: the error for a write (no leader known).
caf::error no_leader(coordinator_pointer self);
/// A cluster follower: whether a read of `op` goes to the leader (nothing
/// here can serve it but the slots in `tried` (bit i: slot i), and a leader
/// is known).
bool read_goes_to_leader(coordinator_pointer self, operation op, uint64_t tried = 0);
/// Marks the replicas (names with '@') as known to the leader only.
void start_follower(coordinator_pointer self);
// -- coordinator_leases.cpp ------------------------------------------------------
/// A leader grants `node` a read lease.
caf::result<replica_lease> grant_lease(coordinator_pointer self, const std::string& node);
/// A follower stops trusting `names` (all if empty).
ok_atom revoke_lease(coordinator_pointer self, const std::vector<std::string>& names);
/// The lease timers (follower: renew, or expiry; leader: recheck waits).
/// A follower arms the renewal timer once, at start.
void on_lease_timer(coordinator_pointer self, bool expiry);
/// A follower's lease ends (it ran out).
void drop_lease(coordinator_pointer self);
/// A follower: ends a lease, or the trust in the shared database, whose
/// time has passed (from refresh and the expiry timers).
void expire_trust(coordinator_pointer self);
/// A follower's leader changed: its lease ends, and it asks the new one.
void leader_changed(coordinator_pointer self);
/// A follower's renewal period (and a leader's wait after removing a
/// shared database's marker is two of them).
std::chrono::milliseconds renew_interval(const coordinator_config& cfg);
/// A leader: calls `done` once no lease vouches for slot #i any more.
void await_unvouched(coordinator_pointer self, size_t i, std::function<void()> done);
/// A leader: slot #i left in_sync for another reason than a missed write
/// (a restart): tell the followers, without waiting.
void revoke_everywhere(coordinator_pointer self, size_t i);
// -- coordinator_reads.cpp ----------------------------------------------------------

caf::result<served<std::vector<collection_spec>>> list_collections(coordinator_pointer self);
caf::result<served<collection_stats>> stats_of(coordinator_pointer self, std::string& name);
/// `from`: what a read handed over by the direct path already tried.
caf::result<served<document>> get_document(coordinator_pointer self, std::string& c,
                                           std::string& id, const read_escalation& from = {});
caf::result<served<std::vector<search_hit>>>
search_documents(coordinator_pointer self, search_query& q, const read_escalation& from = {});
// -- coordinator_hedging.cpp -------------------------------------------------------

/// The candidates for a read of `op`, in the order try_read uses them:
/// backends that prefer `op` first, then the configured order, and those
/// demoted for `op` (latency outliers) last; only slots that serve_reads(op)
/// now (in sync, healthy; saturated ones are included). Refreshes first.
std::vector<size_t> read_order(coordinator_pointer self, operation op);
/// The slot a read of `op` goes to when every backend is healthy: the first
/// that prefers `op`, else the first in the configured order (one known
/// not to support `op` is skipped); nullopt with no backend.
std::optional<size_t> first_choice(coordinator_pointer self, operation op);
/// Why a read of `op` would not go to its first choice now (nullopt: it
/// would).
std::optional<fallback_reason> skip_reason(coordinator_pointer self, operation op);
/// A read of `op` was answered by slot `served`: if that is not the first
/// choice, counts a fallback, with why it moved (`first_tried`: the first
/// choice was tried for this read and did not answer it; `skipped`: why it
/// was passed over when the read was routed, if known).
void count_fallback(coordinator_pointer self, operation op, size_t served, bool first_tried,
                    std::optional<fallback_reason> skipped = std::nullopt);
/// How long a read of `op` sent to slot #i may go unanswered before it is
/// hedged: slot #i's recent p95 for `op` (at least hedge_min_delay);
/// nullopt if it should not be hedged (hedging off, too few samples).
std::optional<duration> hedge_delay(coordinator_pointer self, size_t i, operation op);
/// Feeds the latency of one successful call of `op` on slot #i into its
/// window (and reconsiders demotions). try_read calls it; so may a read
/// path outside the coordinator, reporting its calls later.
void observe_latency(coordinator_pointer self, size_t i, operation op, duration d);
// -- coordinator_writes.cpp ---------------------------------------------------------

caf::result<write_receipt> create_collection(coordinator_pointer self, collection_spec& spec);
caf::result<write_receipt> drop_collection(coordinator_pointer self, std::string& name);
/// Takes `c` and `docs` (moved from).
caf::result<write_receipt> upsert_documents(coordinator_pointer self, std::string& c,
                                            std::vector<document>& docs);
caf::result<write_receipt> remove_document(coordinator_pointer self, std::string& c,
                                           std::string& id);
// -- coordinator_health.cpp ---------------------------------------------------------

/// Sends slot #i's next probe_atom after a jittered probe interval.
void schedule_probe(coordinator_pointer self, uint32_t i);
/// Runs slot #i's active health probe (unless one is in flight).
void run_probe(coordinator_pointer self, uint32_t i);
/// A supervisor reported a backend's lifecycle transition.
void on_lifecycle(coordinator_pointer self, lifecycle_event& ev);
/// Start-up has settled: every backend reported, and caught up if it is up.
bool all_reported(coordinator_pointer self);
health_report health(coordinator_pointer self);
/// Delivers pending ready_atom replies once every backend has settled.
void deliver_ready(coordinator_pointer self);
caf::result<ok_atom> restart_backend(coordinator_pointer self, const std::string& name);
/// Operator: stop a backend and keep it down (hold), or start it again.
caf::result<ok_atom> hold_backend(coordinator_pointer self, const std::string& name, bool hold);

// -- coordinator_handoff.cpp --------------------------------------------------------

/// Opens the handoff logs and the version file (with a handoff directory).
void start_replication(coordinator_pointer self);
/// Spawns slot #i's handoff log (with a handoff directory).
void attach_hints(coordinator_pointer self, size_t i);
/// Slot #i's handoff log was found damaged and set aside: its hints are
/// lost, so its marker goes and it is rebuilt from a peer.
void hints_lost(coordinator_pointer self, size_t i, const std::string& why);
/// Stores `entry` (a write another backend applied) durably in slot #i's
/// handoff log, then calls `done` with an empty string or why it failed. If
/// it fails, the backend lacks a write others hold: it will be rebuilt.
void store_hint(coordinator_pointer self, size_t i, const handoff_entry& entry,
                std::function<void(std::string)> done);
/// With shared markers (coordinator_config::shared_markers): slot #i's
/// stored marker goes before a write it missed is acknowledged; `done` gets
/// "" or why it could not (then the write is not acknowledged).
void unmark_missed(coordinator_pointer self, size_t i, std::function<void(std::string)> done);
/// With shared markers: slot #i is in sync again, its marker is stored again.
void remark_in_sync(coordinator_pointer self, size_t i);
/// The first write without the left-out backends: they must be rebuilt.
/// Calls `done` once their markers are forgotten.
void forget_left_out(coordinator_pointer self, std::function<void()> done);
// -- coordinator_versions.cpp --------------------------------------------------------

/// Reads the stored version ceiling and stores the first one ahead.
void start_versions(coordinator_pointer self);
/// Calls `then` with the next write version, or the error that keeps it
/// from being stored: at once if the stored ceiling allows one, else once
/// the next ceiling is stored (at most `timeout` later: then errc::timeout).
void with_version(coordinator_pointer self, duration timeout,
                  std::function<void(caf::expected<uint64_t>)> then);
/// Internal timer: store the next ceiling before the current one runs out.
void on_ceiling_tick(coordinator_pointer self);
// -- coordinator_recovery.cpp -------------------------------------------------------

/// Every backend's stored marker is known (or its log is broken).
bool all_markers_loaded(coordinator_pointer self);
/// Every write in flight has a version above this one.
uint64_t floor_version(coordinator_pointer self);
/// Slot `s` has settled for start-up: ready_atom no longer waits for it.
void settle(coordinator_pointer self, slot& s);
void set_replica(coordinator_pointer self, slot& s, replica_state state, std::string_view why);
/// Starts bringing slot #i back in sync if it is up and not in sync.
void maybe_recover(coordinator_pointer self, size_t i);
/// A backend came up (again): check its marker before it serves reads.
void on_backend_up(coordinator_pointer self, size_t i);
void on_progress(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t copied,
                 uint64_t pending, uint64_t replayed, uint64_t total);
/// Slot #i's catch-up or rebuild so far: done, total (0: unknown), the rate
/// per second since it began, and the seconds left (-1: unknown).
struct recovery_progress {
  uint64_t done = 0, total = 0;
  double rate = 0, eta_s = -1;
};
recovery_progress progress_of(coordinator_pointer self, const slot& s);
void on_recovered(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t drained,
                  caf::error& err);

// -- coordinator_database.cpp ---------------------------------------------------

/// After a probe: slot #i's database view (primary, standbys) for health
/// and metrics, and whether it may have lost acknowledged writes (a
/// failover to a new timeline), which starts its verification.
void observe_database(coordinator_pointer self, size_t i);
// -- coordinator_repair.cpp ---------------------------------------------------------

/// Runs a check job and replies its report when done.
caf::result<consistency_report> start_check(coordinator_pointer self);
/// Starts a check job (repair: copy the newer versions); replies its id.
caf::result<uint64_t> start_check_job(coordinator_pointer self, bool repair, bool background);
caf::result<check_status> check_status_of(coordinator_pointer self, uint64_t id);
/// Replies once job `id` is done.
caf::result<check_status> await_check(coordinator_pointer self, uint64_t id);
void on_check_progress(coordinator_pointer self, uint64_t ticket, check_progress& p);
void on_check_done(coordinator_pointer self, uint64_t ticket, consistency_report& report);
/// Arms the background repair timer (repair_interval; 0: never); the first
/// time, first_repair_delay if set.
void schedule_repair(coordinator_pointer self, bool first = false);
void on_repair_tick(coordinator_pointer self);
// -- coordinator_direct.cpp ---------------------------------------------------------

/// Publishes the routing snapshot (routing_snapshot.hpp) if what it would
/// say changed. Called wherever health, circuits or replica states change,
/// and on the routes timer.
void publish_routes(coordinator_pointer self);
/// The routes timer: takes the direct reads' outcomes, publishes again.
void on_routes_tick(coordinator_pointer self);
/// A read handed over by the direct path: records the failure it carries,
/// then routes it as usual without the backends it tried.
caf::result<served<document>> get_handed_over(coordinator_pointer self, std::string& c,
                                              std::string& id, read_escalation& from);
caf::result<served<std::vector<search_hit>>>
search_handed_over(coordinator_pointer self, search_query& q, read_escalation& from);

// -- coordinator_purge.cpp ----------------------------------------------------------

void schedule_purge(coordinator_pointer self);
void on_purge(coordinator_pointer self);

} // namespace lifeline::detail
