// The coordinator's recovery of a backend that comes (back) up: read the
// replica marker it holds, then replay its handoff log, adopt it (first
// start) or rebuild it from an in-sync peer, and follow the job until it is
// in sync. The hints themselves are kept by coordinator_handoff.cpp,
// tombstone purges run in coordinator_purge.cpp and consistency checks in
// coordinator_repair.cpp. See docs/DATABASE_ARCHITECTURE.md.
#include "actors/checker.hpp"
#include "actors/coordinator_state.hpp"
#include "actors/handoff.hpp"
#include "actors/recovery.hpp"
#include "backends/backend.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

/// Every backend's stored marker is known (or its log is broken): whether
/// this is a first start can be decided. The logs themselves load on their
/// own: a large one holds back only its own backend.
bool all_markers_loaded(coordinator_pointer self) {
  auto& slots = self->state.slots;
  return std::all_of(slots.begin(), slots.end(), [](const slot& s) {
    return s.replica.marker_loaded || s.replica.hints_broken;
  });
}

/// Every write in flight has a version above this one.
uint64_t floor_version(coordinator_pointer self) {
  auto& st = self->state;
  if (st.writes_in_flight.empty()) return st.versions.last();
  return *st.writes_in_flight.begin() - 1;
}

void settle(coordinator_pointer self, slot& s) {
  if (s.replica.settled) return;
  s.replica.settled = true;
  deliver_ready(self);
}

namespace {

std::string random_marker(coordinator_pointer self) {
  // Unique per rebuild or adoption; the random part keeps two coordinators
  // (or a restored backup) from ever agreeing by accident.
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx",
                static_cast<unsigned long long>(self->state.rng()),
                static_cast<unsigned long long>(std::random_device{}()));
  return buf;
}

/// The backend to rebuild slot #i from: up, in sync, able to scan.
std::optional<size_t> pick_peer(coordinator_pointer self, size_t i) {
  auto& slots = self->state.slots;
  for (size_t j = 0; j < slots.size(); ++j)
    if (j != i && slots[j].rebuild_peer()) return j;
  return std::nullopt;
}

/// On a first start: the backend every other one is rebuilt from, the
/// first one in priority order (it holds the data an operator considers
/// primary; choosing "whichever is up" could make an empty store the
/// reference and empty the others).
constexpr size_t reference = 0;

/// `continues`: another round of a catch-up (writes arrived during the
/// last one), which goes on counting its progress.
void spawn_job(coordinator_pointer self, size_t i, std::optional<size_t> peer,
               std::string new_marker, bool continues = false) {
  auto& st = self->state;
  auto& s = st.slots[i];
  recovery_plan plan;
  plan.index = static_cast<uint32_t>(i);
  plan.backend = s.name;
  plan.target = s.routing.handle();
  plan.hints = s.replica.hints;
  plan.markers = st.durable;
  auto& r = s.replica;
  bool after_catch_up = !r.peer.has_value();
  if (peer) {
    plan.peer = st.slots[*peer].routing.handle();
    plan.peer_name = st.slots[*peer].name;
    plan.floor = floor_version(self);
    r.rebuilt = 0;
  }
  // A rebuild, a first round, a round after a restart or a failure start
  // their count afresh; only another round of the same catch-up goes on.
  if (!(continues && after_catch_up && !peer && r.progress_since != time_point{})) {
    r.progress_since = now(self);
    r.progress_logged = now(self);
    r.progress_done = 0;
    r.progress_total = peer ? 0 : r.pending;
  }
  plan.new_marker = new_marker;
  s.replica.peer = peer;
  // After a fresh copy, an entry the backend refuses was refused everywhere.
  plan.skip_refused = peer.has_value();
  plan.page = st.cfg.recovery_page;
  plan.call_timeout = st.cfg.recovery_call_timeout;
  plan.metrics = st.cfg.metrics;
  plan.job = s.replica.start_job(std::move(new_marker));
  spawn_recovery(self->system(), std::move(plan), self);
  // A rebuild can take long: do not hold start-up (ready_atom) for it.
  if (peer) settle(self, s);
}

/// Replay, adopt or rebuild slot #i, given the marker it holds.
void decide(coordinator_pointer self, size_t i, const std::string& held) {
  auto& st = self->state;
  auto& s = st.slots[i];
  auto& r = s.replica;
  if (!r.needs_rebuild && st.fresh && r.marker.empty() && i == reference) {
    // First start: the first backend in priority order is taken as it is,
    // the others are rebuilt from it.
    log().info("backend {}: first start, taken as the reference copy", s.name);
    return spawn_job(self, i, std::nullopt, random_marker(self));
  }
  if (!r.needs_rebuild && !r.marker.empty() && held == r.marker)
    return spawn_job(self, i, std::nullopt, {});
  // A store that may have lost writes (a database failover) says why.
  auto lost = s.store ? s.store->lost_writes() : std::string{};
  std::string why = !lost.empty()      ? lost
                    : r.needs_rebuild  ? "it missed writes that could not be kept for it"
                    : st.fresh         ? "first start: copying the reference backend"
                    : r.marker.empty() ? "it was never in sync (new, or its handoff log was lost)"
                                       : "it does not hold the data it had (marker differs)";
  refresh(self);
  auto peer = pick_peer(self, i);
  set_replica(self, s, replica_state::rebuilding, why);
  if (!peer) {
    // On a first start this is the plan (the reference copy comes first),
    // not trouble: an operator is told, not warned.
    if (!r.waiting_for_peer)
      log().log(st.fresh ? spdlog::level::info : spdlog::level::warn,
                "backend {}: must be rebuilt ({}), {}", s.name, why,
                st.fresh ? "once the reference copy is ready" : "but no other backend is in sync yet");
    r.waiting_for_peer = true;
    settle(self, s);
    return;
  }
  spawn_job(self, i, peer, random_marker(self));
}

} // namespace

void set_replica(coordinator_pointer self, slot& s, replica_state state, std::string_view why) {
  if (s.replica.state == state) return;
  // Leaving in_sync needs an operator's eye; the copies of a first start
  // (nothing was ever in sync) do not.
  auto level = state == replica_state::in_sync || self->state.fresh ? spdlog::level::info
                                                                    : spdlog::level::warn;
  log().log(level, "backend {}: {} -> {}{}{}", s.name, to_string(s.replica.state),
            to_string(state), why.empty() ? "" : ": ", why);
  bool left = s.replica.in_sync();
  s.replica.state = state;
  if (left) revoke_everywhere(self, static_cast<size_t>(&s - self->state.slots.data()));
  s.since_unix_ms = unix_ms();
  metrics(self).replica(s.name, state);
  if (state == replica_state::in_sync) {
    s.replica.progress_since = {};
    metrics(self).recovery_progress(s.name, 0, 0, 0, -1);
  }
  publish_routes(self); // before any write this change is for is acknowledged
}

void maybe_recover(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  auto& r = s.replica;
  if (!st.handoff() || !r.hints_loaded || !r.marker_loaded || r.hints_broken
      || !all_markers_loaded(self))
    return;
  if (s.routing.flags().has(health_flag::not_up) || r.job_running || r.deciding
      || r.checking_hints)
    return;
  if (r.in_sync() && !r.needs_rebuild) return;
  r.deciding = true;
  auto job = r.job;
  self->request(s.routing.handle(), st.cfg.recovery_call_timeout, marker_atom::value)
    .then(
      [self, i, job](std::string& held) {
        auto& s = self->state.slots[i];
        s.replica.deciding = false;
        if (job != s.replica.job || s.routing.lifecycle() != lifecycle_state::up) return;
        decide(self, i, held);
      },
      [self, i](caf::error& err) {
        auto& s = self->state.slots[i];
        s.replica.deciding = false;
        log().warn("backend {}: cannot read its replica marker ({}); retrying", s.name,
                   describe(err));
        settle(self, s); // retried with the next probe
      });
}

void on_backend_up(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  if (!st.handoff()) return;
  ++s.replica.job; // reports of a job from before the restart are stale now
  s.replica.job_running = false;
  s.replica.deciding = false;
  // A restarted store may have lost its data: check before it serves reads.
  if (s.replica.in_sync())
    set_replica(self, s, replica_state::catching_up, "(re)started: checking its data");
  maybe_recover(self, i);
}

recovery_progress progress_of(coordinator_pointer self, const slot& s) {
  auto& r = s.replica;
  recovery_progress p;
  if (r.in_sync()) return p;
  p.done = r.progress_done;
  p.total = r.progress_total;
  if (r.progress_since == time_point{}) return p; // not begun, or stalled
  auto seconds = std::chrono::duration<double>(now(self) - r.progress_since).count();
  if (seconds > 0) p.rate = double(p.done) / seconds;
  if (p.total > 0 && p.done >= p.total) p.eta_s = 0;
  else if (p.total > 0 && p.rate > 0) p.eta_s = double(p.total - p.done) / p.rate;
  return p;
}

namespace {

/// Progress in the metrics, and a log line every 10 s while it runs.
void report_progress(coordinator_pointer self, slot& s) {
  auto p = progress_of(self, s);
  metrics(self).recovery_progress(s.name, p.done, p.total, p.rate, p.eta_s);
  auto& r = s.replica;
  if (now(self) - r.progress_logged < std::chrono::seconds{10}) return;
  r.progress_logged = now(self);
  auto what = r.state == replica_state::rebuilding ? "documents copied" : "missed writes replayed";
  if (p.total > 0)
    log().info("backend {}: {}: {}/{} {} ({:.0f}/s, {})", s.name, to_string(r.state), p.done,
               p.total, what, p.rate,
               p.eta_s >= 0 ? fmt::format("about {:.0f} s left", p.eta_s) : "time left unknown");
  else
    log().info("backend {}: {}: {} {} ({:.0f}/s)", s.name, to_string(r.state), p.done, what,
               p.rate);
}

} // namespace

void on_progress(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t copied,
                 uint64_t pending, uint64_t replayed, uint64_t total) {
  auto& st = self->state;
  if (i >= st.slots.size() || st.slots[i].replica.job != job) return;
  auto& s = st.slots[i];
  auto& r = s.replica;
  if (copied > r.rebuilt) {
    metrics(self).rebuild_copied(s.name, copied - r.rebuilt);
    r.rebuilt = copied;
  }
  if (pending != ~uint64_t{0}) {
    r.pending = pending;
    metrics(self).handoff_pending(s.name, pending);
  }
  if (replayed > 0) metrics(self).handoff(s.name, handoff_event::replayed, replayed);
  if (r.peer) {
    // A rebuild: documents copied out of the peer's count.
    r.progress_done = copied;
    r.progress_total = total;
  } else {
    // A catch-up: entries replayed out of those plus the ones still in the
    // log (more arrive while it runs).
    r.progress_done += replayed;
    if (pending != ~uint64_t{0}) r.progress_total = r.progress_done + pending;
  }
  report_progress(self, s);
}

void on_recovered(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t drained,
                  caf::error& err) {
  auto& st = self->state;
  if (i >= st.slots.size() || st.slots[i].replica.job != job) return;
  auto& s = st.slots[i];
  auto& r = s.replica;
  r.job_running = false;
  if (err) {
    if (is_client_error(err)) {
      // A replayed write was refused: the backend holds something else than
      // the log assumes. Start over from a peer (with the next probe: no
      // tight loop if that fails too).
      log().error("backend {}: replay refused ({}); rebuilding it", s.name, describe(err));
      r.must_rebuild();
      caf::anon_send(st.durable, marker_atom::value, s.name, std::string{});
      return settle(self, s);
    }
    log().warn("backend {}: recovery stopped ({}); retrying", s.name, describe(err));
    s.last_error = "recovery: " + describe(err);
    // Stalled: no rate and no time left to show until it runs again.
    r.progress_since = {};
    metrics(self).recovery_progress(s.name, r.progress_done, r.progress_total, 0, -1);
    settle(self, s);
    // Its log may have been found damaged (and set aside) while it was
    // replayed: no replay starts again until that is known.
    r.checking_hints = true;
    self->request(r.hints, st.cfg.recovery_call_timeout, status_atom::value)
      .then(
        [self, i](handoff_status& status) {
          auto& s = self->state.slots[i];
          s.replica.checking_hints = false;
          if (!status.lost.empty()) return hints_lost(self, i, status.lost);
          // Else retried with the next probe (no tight loop if it fails again).
        },
        [self, i](caf::error&) {
          self->state.slots[i].replica.checking_hints = false; // retried with the next probe
        });
    return;
  }
  if (r.job_outdated()) {
    // It missed a write that could not be kept while the job ran.
    r.next_marker.clear();
    return maybe_recover(self, i);
  }
  if (!r.next_marker.empty()) {
    r.marker = std::move(r.next_marker); // the job stored it
    r.next_marker.clear();
    r.needs_rebuild = false;
    r.stored = replica_slot::stored_marker::kept;
  }
  if (r.missed_during_job(drained)) {
    // Writes it missed arrived during the replay: another round.
    return spawn_job(self, i, std::nullopt, {}, true);
  }
  r.drained();
  r.over_limit = false;
  metrics(self).handoff_pending(s.name, 0);
  set_replica(self, s, replica_state::in_sync, "caught up");
  remark_in_sync(self, i);
  st.fresh = false;
  settle(self, s);
  for (size_t j = 0; j < st.slots.size(); ++j)
    if (st.slots[j].replica.waiting_for_peer) maybe_recover(self, j);
}

} // namespace lifeline::detail
