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

/// Every backend's stored marker is known (or its log is broken): whether
/// this is a first start can be decided. The logs themselves load on their
/// own: a large one holds back only its own backend.
bool all_markers_loaded(coordinator_pointer self) {
  auto& slots = self->state.slots;
  return std::all_of(slots.begin(), slots.end(), [](const slot& s) {
    return s.replica.marker_loaded || s.replica.hints_broken;
  });
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
  return std::min(floor_version(self), now > grace ? now - grace : 0);
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

/// Every stored marker is read: recovery may start (each backend once its
/// own log is loaded too).
void markers_loaded(coordinator_pointer self) {
  auto& st = self->state;
  if (!all_markers_loaded(self)) return;
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
  markers_loaded(self);
}

/// Forgets slot #i's stored marker (it will be rebuilt from a peer), then
/// calls `done` (with an empty string, or why the marker stays).
void forget_marker(coordinator_pointer self, size_t i, std::function<void(std::string)> done) {
  auto& st = self->state;
  auto& s = st.slots[i];
  self->request(st.durable, st.cfg.recovery_call_timeout, marker_atom::value, s.name,
                std::string{})
    .then([done](ok_atom) { done({}); },
          [done, name = s.name](caf::error& e) {
            log().error("backend {}: cannot forget its replica marker: {}", name, describe(e));
            done(describe(e));
          });
}

/// Slot #i's log was found damaged at open and set aside: the hints in it
/// (at least those after the damage) are lost. Its marker goes, so it is
/// rebuilt from a peer; only then does its recovery start.
void hints_lost(coordinator_pointer self, size_t i, const std::string& why) {
  auto& s = self->state.slots[i];
  log().error("backend {}: its handoff log is damaged ({}); the writes kept in it are lost, "
              "so it will be rebuilt from a peer", s.name, why);
  s.last_error = "handoff log damaged: " + why;
  metrics(self).handoff_reset(s.name, "damaged");
  s.replica.must_rebuild();
  s.replica.pending = 0;
  metrics(self).handoff_pending(s.name, 0);
  set_replica(self, s, replica_state::rebuilding, "its handoff log was damaged");
  forget_marker(self, i, [self, i](std::string failure) {
    auto& s = self->state.slots[i];
    // Still rebuilt now (needs_rebuild); a restart before that finds the
    // marker kept only if it could not be removed (logged).
    (void)failure;
    s.replica.hints_loaded = true;
    maybe_recover(self, i);
  });
}

/// Asks slot #i's log for its status, without giving up on a slow load.
void await_hints(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  self->request(s.replica.hints, st.cfg.handoff_load_timeout, status_atom::value)
    .then(
      [self, i](handoff_status& status) {
        auto& s = self->state.slots[i];
        auto& r = s.replica;
        if (r.hints_loading) {
          log().info("backend {}: its handoff log is loaded", s.name);
          r.hints_loading = false;
          s.last_error.clear();
        }
        r.pending = status.pending;
        metrics(self).handoff_pending(s.name, r.pending);
        if (!status.lost.empty()) return hints_lost(self, i, status.lost);
        if (r.pending > 0)
          log().info("backend {}: {} writes wait in its handoff log", s.name, r.pending);
        r.hints_loaded = true;
        maybe_recover(self, i);
      },
      [self, i](caf::error& err) {
        auto& st = self->state;
        auto& s = st.slots[i];
        if (err != caf::sec::request_timeout)
          return hints_broken(self, i, "its handoff log cannot be used: " + describe(err));
        // A large log takes long to load (it is read and checked whole).
        // Keep waiting: the backend serves no reads meanwhile, and the
        // others need not wait for it.
        if (!s.replica.hints_loading)
          log().warn("backend {}: its handoff log is still loading after {} ms; it serves no "
                     "reads until the log is loaded and replayed",
                     s.name, std::chrono::duration_cast<std::chrono::milliseconds>(
                               st.cfg.handoff_load_timeout).count());
        s.replica.hints_loading = true;
        s.last_error = "handoff log still loading";
        settle(self, s);
        await_hints(self, i);
      });
}

} // namespace

void attach_hints(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  handoff_options ho;
  ho.backend = s.name;
  auto limit = st.cfg.handoff_limit_of.find(s.name);
  ho.limit_bytes = limit != st.cfg.handoff_limit_of.end() ? limit->second
                                                          : st.cfg.handoff_limit_bytes;
  ho.segment_bytes = st.cfg.handoff_segment_bytes;
  ho.disk_free_warn_bytes = st.cfg.disk_free_warn_bytes;
  ho.metrics = st.cfg.metrics;
  if (st.cfg.before_hints_load) ho.before_load = [f = st.cfg.before_hints_load, name = s.name] { f(name); };
  s.replica.hints = spawn_handoff(self->system(), backend_directory(st.cfg.handoff_dir, s.name),
                                  st.cfg.detached_io, std::move(ho));
  s.replica.state = replica_state::catching_up; // until its marker is checked
  s.replica.settled = false;
  metrics(self).replica(s.name, s.replica.state);
  // The marker and the log independently: a log that takes long to load
  // (or is found damaged, and then clears the marker) holds back only its
  // own backend.
  self->request(st.durable, st.cfg.recovery_call_timeout, marker_atom::value, s.name)
    .then(
      [self, i](std::string& marker) {
        auto& r = self->state.slots[i].replica;
        r.marker_loaded = true;
        if (!r.needs_rebuild) r.marker = std::move(marker); // else its log was lost meanwhile
        markers_loaded(self);
      },
      [self, i](caf::error& err) { hints_broken(self, i, "replica marker: " + describe(err)); });
  await_hints(self, i);
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

namespace {

/// Slot #i missed a write that no log keeps for it (its log was dropped
/// over its limit, or is still loading): it must be rebuilt from a peer.
/// Its stored marker goes before the write is answered (removing a file
/// still works on a full disk); `done` gets why if it could not.
void rebuild_instead(coordinator_pointer self, size_t i, const std::string& why,
                     std::function<void(std::string)> done) {
  auto& s = self->state.slots[i];
  s.replica.must_rebuild();
  s.last_error = why;
  set_replica(self, s, replica_state::rebuilding, why);
  forget_marker(self, i, [self, i, done, why](std::string failure) {
    done(failure.empty() ? std::string{} : why + "; and its replica marker stays: " + failure);
    maybe_recover(self, i);
  });
}

} // namespace

void store_hint(coordinator_pointer self, size_t i, const handoff_entry& entry,
                std::function<void(std::string)> done) {
  auto& st = self->state;
  auto& s = st.slots[i];
  if (s.replica.hints_loading && !s.replica.hints_loaded) {
    // Its log is still loading: an append would wait behind the load, past
    // the write's deadline. The write is on another backend; this one gets
    // everything from a peer instead.
    if (s.replica.needs_rebuild) return done({});
    log().warn("backend {}: missed a write while its handoff log is still loading; it will "
               "be rebuilt from a peer", s.name);
    return rebuild_instead(self, i, "missed a write while its handoff log was loading", done);
  }
  ++s.replica.appends_in_flight;
  self->request(s.replica.hints, st.cfg.recovery_call_timeout, append_atom::value,
                std::vector<handoff_entry>{entry})
    .then(
      [self, i, done](uint64_t appended_total, uint64_t pending, uint64_t dropped) {
        auto& st = self->state;
        auto& s = st.slots[i];
        auto& r = s.replica;
        --r.appends_in_flight;
        r.appended_total = std::max(r.appended_total, appended_total);
        r.pending = pending;
        metrics(self).handoff_pending(s.name, pending);
        if (dropped > 0) {
          // Over its limit: the log (this write included) is gone. The
          // write is on the backends that applied it and is acknowledged;
          // this one is rebuilt from a peer when it is back.
          metrics(self).handoff(s.name, handoff_event::dropped, dropped);
          metrics(self).handoff_reset(s.name, "limit");
          if (!r.over_limit) {
            auto it = st.cfg.handoff_limit_of.find(s.name);
            auto limit = it != st.cfg.handoff_limit_of.end() ? it->second
                                                             : st.cfg.handoff_limit_bytes;
            log().warn("backend {}: its handoff log passed handoff_limit_mb ({} bytes) and was "
                       "dropped ({} writes); it will be rebuilt from a peer when it is back",
                       s.name, limit, dropped);
          }
          r.over_limit = true;
          return rebuild_instead(self, i, "its handoff log passed handoff_limit_mb: rebuild needed",
                                 done);
        }
        metrics(self).handoff(s.name, handoff_event::appended, 1);
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
        forget_marker(self, i, [done, why](std::string) { done(why); });
      });
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
    r.marker = std::move(r.next_marker);
    r.next_marker.clear();
    r.needs_rebuild = false;
  }
  if (r.missed_during_job(drained)) {
    // Writes it missed arrived during the replay: another round.
    return spawn_job(self, i, std::nullopt, {});
  }
  r.drained();
  r.over_limit = false;
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

// Purges are decided per backend. A tombstone on backend A exists to stop
// an older write of the same id from bringing the document back on A. Such
// a write can reach A only
//   (a) as a write in flight: every one has a version above floor_version,
//       and purge_limit stays below it;
//   (b) as a write that timed out but still sits in A's queue: it is older
//       than the grace period, and purge_limit stays that far behind;
//   (c) from A's own handoff log: A has nothing pending and no append in
//       flight (a hint stored later is a write in flight until then: (a));
//   (d) from a rebuild or repair copying into A: A is in sync, so no rebuild
//       of A runs; a repair copies the newer version, and a document newer
//       than the purged tombstone is a write that should win anyway.
//       Repair may copy an older live version into A only if another
//       backend lacks the delete and holds no hint of it: then the delete
//       was never acknowledged (an acknowledged write is on every backend
//       or in its hints), and a delete that was not acknowledged may end
//       applied or not, as long as the backends agree, which they then do.
//       (So purges do not wait for a repair round: they would then wait
//       for as long as a backend stays down, which is what bounds them.)
// None of these involves another backend B being down: B keeps its own
// tombstones (it purges nothing while it does not hold the data), and gets
// A's deletes through its handoff log (which replays them as deletes that
// leave tombstones on B) or through a rebuild from a peer (which copies
// the peer's documents and deletes whatever the peer does not hold, so a
// purged tombstone on the peer is simply an absent document). So A may
// purge while B is down. Ids that never existed are no different: the
// delete leaves a tombstone (to order a late upsert), and it is purged the
// same way.
void on_purge(coordinator_pointer self) {
  auto& st = self->state;
  schedule_purge(self);
  auto up_to = purge_limit(self);
  if (up_to == 0) return;
  for (auto& s : st.slots) {
    if (!s.holds_data() || s.replica.pending > 0 || s.replica.appends_in_flight > 0
        || s.replica.job_running)
      continue;
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
}

} // namespace lifeline::detail
