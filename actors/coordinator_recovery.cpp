// The coordinator's replication half: hinted handoff, the
// decision to replay or rebuild a backend that comes back, tombstone purges
// and consistency checks. See docs/DATABASE_ARCHITECTURE.md.
#include "actors/checker.hpp"
#include "actors/coordinator_state.hpp"
#include "actors/durable_state.hpp"
#include "actors/handoff.hpp"
#include "actors/recovery.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace lifeline::detail {

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

bool all_hints_loaded(coordinator_pointer self) {
  auto& slots = self->state.slots;
  return std::all_of(slots.begin(), slots.end(),
                     [](const slot& s) { return s.replica.hints_loaded; });
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

/// Every write in flight has a version above this one.
uint64_t floor_version(coordinator_pointer self) {
  auto& st = self->state;
  if (st.writes_in_flight.empty()) return st.versions.last();
  return *st.writes_in_flight.begin() - 1;
}

/// Tombstones up to this version may go: below every write in flight, and
/// older (versions are wall-clock microseconds) than the grace period, so a
/// write that timed out but still sits in a backend's queue cannot land
/// after its tombstone is gone.
uint64_t purge_limit(coordinator_pointer self) {
  auto grace = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                          self->state.cfg.purge_grace)
                          .count());
  auto now = system_micros();
  auto limit = std::min(floor_version(self), now > grace ? now - grace : 0);
  // With background repair, only tombstones a finished repair round saw
  // (coordinator_repair.cpp).
  if (self->state.cfg.repair_interval > duration::zero())
    limit = std::min(limit, self->state.repaired_below);
  return limit;
}

void settle(coordinator_pointer self, slot& s) {
  if (s.replica.settled) return;
  s.replica.settled = true;
  deliver_ready(self);
}

void spawn_job(coordinator_pointer self, size_t i, std::optional<size_t> peer,
               std::string new_marker) {
  auto& st = self->state;
  auto& s = st.slots[i];
  recovery_plan plan;
  plan.index = static_cast<uint32_t>(i);
  plan.backend = s.name;
  plan.target = s.routing.handle();
  plan.hints = s.replica.hints;
  plan.markers = st.durable;
  if (peer) {
    plan.peer = st.slots[*peer].routing.handle();
    plan.peer_name = st.slots[*peer].name;
    plan.floor = floor_version(self);
    s.replica.rebuilt = 0;
  }
  plan.new_marker = new_marker;
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
  auto why = r.needs_rebuild ? "it missed writes that could not be kept for it"
             : st.fresh         ? "first start: copying the reference backend"
             : r.marker.empty() ? "it was never in sync (new, or its handoff log was lost)"
                                : "it does not hold the data it had (marker differs)";
  refresh(self);
  auto peer = pick_peer(self, i);
  set_replica(self, s, replica_state::rebuilding, why);
  if (!peer) {
    if (!r.waiting_for_peer)
      log().warn("backend {}: must be rebuilt ({}), but no other backend is in sync yet", s.name,
                 why);
    r.waiting_for_peer = true;
    settle(self, s);
    return;
  }
  spawn_job(self, i, peer, random_marker(self));
}

} // namespace

void set_replica(coordinator_pointer self, slot& s, replica_state state, std::string_view why) {
  if (s.replica.state == state) return;
  auto level = state == replica_state::in_sync ? spdlog::level::info : spdlog::level::warn;
  log().log(level, "backend {}: {} -> {}{}{}", s.name, to_string(s.replica.state),
            to_string(state), why.empty() ? "" : ": ", why);
  s.replica.state = state;
  s.since_unix_ms = unix_ms();
  metrics(self).replica(s.name, state);
}

namespace {

/// Every handoff log has opened (and its marker is read): recovery may start.
void hints_loaded(coordinator_pointer self) {
  auto& st = self->state;
  if (!all_hints_loaded(self)) return;
  st.fresh = std::all_of(st.slots.begin(), st.slots.end(),
                         [](const slot& x) { return x.replica.marker.empty(); });
  for (size_t j = 0; j < st.slots.size(); ++j) maybe_recover(self, j);
}

/// Slot #i's handoff log cannot be used.
void hints_broken(coordinator_pointer self, size_t i, const std::string& why) {
  auto& s = self->state.slots[i];
  // Counted as loaded, so that the other backends go on; this one stays out
  // of service (its writes cannot be kept: not_durable).
  s.replica.hints_loaded = true;
  s.replica.hints_broken = true;
  s.last_error = why;
  log().error("backend {}: {}; it will not serve reads", s.name, why);
  settle(self, s);
  hints_loaded(self);
}

} // namespace

void attach_hints(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  s.replica.hints = spawn_handoff(self->system(), backend_directory(st.cfg.handoff_dir, s.name),
                                  st.cfg.detached_io);
  s.replica.state = replica_state::catching_up; // until its marker is checked
  s.replica.settled = false;
  metrics(self).replica(s.name, s.replica.state);
  // The log first: one found damaged is set aside with its marker, so the
  // marker is read only once the log is open.
  self->request(s.replica.hints, st.cfg.recovery_call_timeout, status_atom::value)
    .then(
      [self, i](handoff_status& status) {
        auto& st = self->state;
        auto& s = st.slots[i];
        s.replica.pending = status.pending;
        metrics(self).handoff_pending(s.name, s.replica.pending);
        if (s.replica.pending > 0)
          log().info("backend {}: {} writes wait in its handoff log", s.name, s.replica.pending);
        self->request(st.durable, st.cfg.recovery_call_timeout, marker_atom::value, s.name)
          .then(
            [self, i](std::string& marker) {
              auto& s = self->state.slots[i];
              s.replica.hints_loaded = true;
              s.replica.marker = std::move(marker);
              hints_loaded(self);
            },
            [self, i](caf::error& err) {
              hints_broken(self, i, "replica marker: " + describe(err));
            });
      },
      [self, i](caf::error& err) {
        hints_broken(self, i, "its handoff log cannot be used: " + describe(err));
      });
}

void start_replication(coordinator_pointer self) {
  auto& st = self->state;
  if (!st.handoff()) return;
  st.durable = spawn_durable_state(self->system(), st.cfg.handoff_dir, st.cfg.detached_io);
  start_versions(self);
  for (size_t i = 0; i < st.slots.size(); ++i) attach_hints(self, i);
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator{st.cfg.handoff_dir, ec}) {
    auto name = entry.path().filename().string();
    if (entry.is_directory(ec) && name.find(".damaged-") == std::string::npos
        && std::none_of(st.slots.begin(), st.slots.end(), [&](const slot& s) { return s.name == name; }))
      st.left_out.push_back(name);
  }
}

void forget_left_out(coordinator_pointer self, std::function<void()> done) {
  auto& st = self->state;
  st.after_left_out.push_back(std::move(done));
  if (st.forgetting_left_out) return;
  st.forgetting_left_out = true;
  auto names = std::move(st.left_out);
  st.left_out.clear();
  auto left = std::make_shared<size_t>(names.size() + 1); // + 1: held until all are sent
  auto finished = [self, left] {
    if (--*left > 0) return;
    auto& st = self->state;
    st.forgetting_left_out = false;
    auto waiters = std::move(st.after_left_out);
    st.after_left_out.clear();
    for (auto& w : waiters) w();
  };
  for (auto& name : names) {
    // Once, on the first write.
    log().warn("backend {} is not configured and misses this write: it will be rebuilt when "
               "it is configured again", name);
    self->request(st.durable, st.cfg.recovery_call_timeout, marker_atom::value, name,
                  std::string{})
      .then([finished](ok_atom) { finished(); },
            [finished, name](caf::error& err) {
              log().error("backend {}: cannot forget its replica marker: {}", name,
                          describe(err));
              finished();
            });
  }
  finished();
}

void store_hint(coordinator_pointer self, size_t i, const handoff_entry& entry,
                std::function<void(std::string)> done) {
  auto& st = self->state;
  auto& s = st.slots[i];
  ++s.replica.appends_in_flight;
  self->request(s.replica.hints, st.cfg.recovery_call_timeout, append_atom::value,
                std::vector<handoff_entry>{entry})
    .then(
      [self, i, done](uint64_t appended_total, uint64_t pending) {
        auto& s = self->state.slots[i];
        auto& r = s.replica;
        --r.appends_in_flight;
        r.appended_total = std::max(r.appended_total, appended_total);
        r.pending = pending;
        metrics(self).handoff(s.name, handoff_event::appended, 1);
        metrics(self).handoff_pending(s.name, pending);
        // It lacks a write now: no reads until the write is replayed.
        if (r.in_sync()) set_replica(self, s, replica_state::catching_up, "missed a write");
        maybe_recover(self, i);
        done({});
      },
      [self, i, done](caf::error& err) {
        auto& st = self->state;
        auto& s = st.slots[i];
        --s.replica.appends_in_flight;
        metrics(self).handoff(s.name, handoff_event::failed, 1);
        auto why = "handoff log of " + s.name + ": " + describe(err);
        log().error("write not acknowledged: {}", why);
        // Another backend applied the write and this one cannot get it
        // through its log: only a rebuild brings it back.
        bool had_marker = !s.replica.marker.empty();
        s.replica.must_rebuild();
        if (s.replica.in_sync())
          set_replica(self, s, replica_state::rebuilding, "missed a write that could not be kept");
        if (!had_marker) return done(why);
        // Its stored marker goes before the write is answered (removing a
        // file still works on a full disk).
        self->request(st.durable, st.cfg.recovery_call_timeout, marker_atom::value, s.name,
                      std::string{})
          .then([done, why](ok_atom) { done(why); },
                [done, why, name = s.name](caf::error& e) {
                  log().error("backend {}: cannot forget its replica marker: {}", name,
                              describe(e));
                  done(why);
                });
      });
}

void maybe_recover(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  auto& r = s.replica;
  if (!st.handoff() || !r.hints_loaded || r.hints_broken || !all_hints_loaded(self)) return;
  if (s.routing.flags().has(health_flag::not_up) || r.job_running || r.deciding) return;
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

void on_progress(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t copied,
                 uint64_t pending, uint64_t replayed) {
  auto& st = self->state;
  if (i >= st.slots.size() || st.slots[i].replica.job != job) return;
  auto& s = st.slots[i];
  if (copied > s.replica.rebuilt) {
    metrics(self).rebuild_copied(s.name, copied - s.replica.rebuilt);
    s.replica.rebuilt = copied;
  }
  if (pending != ~uint64_t{0}) {
    s.replica.pending = pending;
    metrics(self).handoff_pending(s.name, pending);
  }
  if (replayed > 0) metrics(self).handoff(s.name, handoff_event::replayed, replayed);
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
    return settle(self, s);
  }
  if (r.job_outdated()) {
    // It missed a write that could not be kept while the job ran.
    r.next_marker.clear();
    return maybe_recover(self, i);
  }
  if (!r.next_marker.empty()) {
    r.marker = std::move(r.next_marker);
    r.next_marker.clear();
    r.needs_rebuild = false;
  }
  if (r.missed_during_job(drained)) {
    // Writes it missed arrived during the replay: another round.
    return spawn_job(self, i, std::nullopt, {});
  }
  r.drained();
  metrics(self).handoff_pending(s.name, 0);
  set_replica(self, s, replica_state::in_sync, "caught up");
  st.fresh = false;
  settle(self, s);
  for (size_t j = 0; j < st.slots.size(); ++j)
    if (st.slots[j].replica.waiting_for_peer) maybe_recover(self, j);
}

// Consistency checks and repair: coordinator_repair.cpp.

// -- tombstones ---------------------------------------------------------------------

void schedule_purge(coordinator_pointer self) {
  auto interval = self->state.cfg.purge_interval;
  if (interval > duration::zero()) self->delayed_send(self, interval, purge_atom::value);
}

void on_purge(coordinator_pointer self) {
  auto& st = self->state;
  schedule_purge(self);
  // A tombstone may go once every backend holds it: all up, in sync, with
  // nothing waiting in a handoff log.
  for (auto& s : st.slots)
    if (!s.holds_data() || s.replica.pending > 0 || s.replica.appends_in_flight > 0) return;
  auto up_to = purge_limit(self);
  if (up_to == 0) return;
  for (auto& s : st.slots)
    self->request(s.routing.handle(), st.cfg.recovery_call_timeout, purge_atom::value, up_to)
      .then(
        [name = s.name, up_to](uint64_t purged) {
          if (purged > 0)
            log().debug("backend {}: purged {} tombstones up to version {}", name, purged, up_to);
        },
        [name = s.name](caf::error& err) {
          log().warn("backend {}: purging tombstones failed: {}", name, describe(err));
        });
}

} // namespace lifeline::detail
