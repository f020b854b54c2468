// The coordinator's replication half: write versions, hinted handoff, the
// decision to replay or rebuild a backend that comes back, tombstone purges
// and consistency checks. See docs/DATABASE_ARCHITECTURE.md.
#include "actors/checker.hpp"
#include "actors/coordinator_state.hpp"
#include "actors/handoff.hpp"
#include "actors/recovery.hpp"
#include "metrics/log.hpp"

#include <spdlog/spdlog.h>

#include "io/files.hpp"

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
  return std::all_of(slots.begin(), slots.end(), [](const slot& s) { return s.hints_loaded; });
}

/// The backend to rebuild slot #i from: up, in sync, able to scan.
std::optional<size_t> pick_peer(coordinator_pointer self, size_t i) {
  auto& slots = self->state.slots;
  for (size_t j = 0; j < slots.size(); ++j) {
    auto& p = slots[j];
    if (j != i && p.lifecycle == lifecycle_state::up && p.handle
        && p.replica == replica_state::in_sync && p.caps.has(operation::scan))
      return j;
  }
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
  auto now = version_clock::system_micros();
  return std::min(floor_version(self), now > grace ? now - grace : 0);
}

void settle(coordinator_pointer self, slot& s) {
  if (s.settled) return;
  s.settled = true;
  deliver_ready(self);
}

void spawn_job(coordinator_pointer self, size_t i, std::optional<size_t> peer,
               std::string new_marker) {
  auto& st = self->state;
  auto& s = st.slots[i];
  recovery_plan plan;
  plan.index = static_cast<uint32_t>(i);
  plan.job = ++s.job;
  plan.backend = s.name;
  plan.target = s.handle;
  plan.hints = s.hints;
  if (peer) {
    plan.peer = st.slots[*peer].handle;
    plan.peer_name = st.slots[*peer].name;
    plan.floor = floor_version(self);
    s.rebuilt = 0;
  }
  plan.new_marker = new_marker;
  // After a fresh copy, an entry the backend refuses was refused everywhere.
  plan.skip_refused = peer.has_value();
  plan.page = st.cfg.recovery_page;
  plan.call_timeout = st.cfg.recovery_call_timeout;
  plan.metrics = st.cfg.metrics;
  s.next_marker = std::move(new_marker);
  s.job_rebuild_requests = s.rebuild_requests;
  s.job_running = true;
  s.waiting_for_peer = false;
  spawn_recovery(self->system(), std::move(plan), self);
  // A rebuild can take long: do not hold start-up (ready_atom) for it.
  if (peer) settle(self, s);
}

/// Replay, adopt or rebuild slot #i, given the marker it holds.
void decide(coordinator_pointer self, size_t i, const std::string& held) {
  auto& st = self->state;
  auto& s = st.slots[i];
  if (!s.needs_rebuild && st.fresh && s.marker.empty() && i == reference) {
    // First start: the first backend in priority order is taken as it is,
    // the others are rebuilt from it.
    log().info("backend {}: first start, taken as the reference copy", s.name);
    return spawn_job(self, i, std::nullopt, random_marker(self));
  }
  if (!s.needs_rebuild && !s.marker.empty() && held == s.marker)
    return spawn_job(self, i, std::nullopt, {});
  auto why = s.needs_rebuild ? "it missed writes that could not be kept for it"
             : st.fresh         ? "first start: copying the reference backend"
             : s.marker.empty() ? "it was never in sync (new, or its handoff log was lost)"
                                : "it does not hold the data it had (marker differs)";
  auto peer = pick_peer(self, i);
  set_replica(self, s, replica_state::rebuilding, why);
  if (!peer) {
    if (!s.waiting_for_peer)
      log().warn("backend {}: must be rebuilt ({}), but no other backend is in sync yet", s.name,
                 why);
    s.waiting_for_peer = true;
    settle(self, s);
    return;
  }
  spawn_job(self, i, peer, random_marker(self));
}

} // namespace

void set_replica(coordinator_pointer self, slot& s, replica_state state, std::string_view why) {
  if (s.replica == state) return;
  auto level = state == replica_state::in_sync ? spdlog::level::info : spdlog::level::warn;
  log().log(level, "backend {}: {} -> {}{}{}", s.name, to_string(s.replica), to_string(state),
            why.empty() ? "" : ": ", why);
  s.replica = state;
  s.since_unix_ms = unix_ms();
  metrics(self).replica(s.name, state);
}

void attach_hints(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  s.hints = spawn_handoff(self->system(), st.cfg.handoff_dir + "/" + s.name, st.cfg.detached_io);
  s.replica = replica_state::catching_up; // until its marker is checked
  s.settled = false;
  metrics(self).replica(s.name, s.replica);
  self->request(s.hints, st.cfg.recovery_call_timeout, status_atom::value)
    .then(
      [self, i](handoff_status& status) {
        auto& st = self->state;
        auto& s = st.slots[i];
        s.hints_loaded = true;
        s.marker = std::move(status.marker);
        s.pending = status.pending;
        metrics(self).handoff_pending(s.name, s.pending);
        if (s.pending > 0)
          log().info("backend {}: {} writes wait in its handoff log", s.name, s.pending);
        if (!all_hints_loaded(self)) return;
        st.fresh = std::all_of(st.slots.begin(), st.slots.end(),
                               [](const slot& x) { return x.marker.empty(); });
        for (size_t j = 0; j < st.slots.size(); ++j) maybe_recover(self, j);
      },
      [self, i](caf::error& err) {
        auto& st = self->state;
        auto& s = st.slots[i];
        // Counted as loaded, so that the other backends go on; this one
        // stays out of service (its writes cannot be kept: not_durable).
        s.hints_loaded = true;
        s.hints_broken = true;
        s.last_error = "handoff log: " + describe(err);
        log().error("backend {}: its handoff log cannot be used ({}); it will not serve reads",
                    s.name, describe(err));
        settle(self, s);
        if (!all_hints_loaded(self)) return;
        st.fresh = std::all_of(st.slots.begin(), st.slots.end(),
                               [](const slot& x) { return x.marker.empty(); });
        for (size_t j = 0; j < st.slots.size(); ++j) maybe_recover(self, j);
      });
}

void start_replication(coordinator_pointer self) {
  auto& st = self->state;
  if (!st.handoff()) return;
  std::error_code ec;
  std::filesystem::create_directories(st.cfg.handoff_dir, ec);
  auto clock = version_clock::open(st.cfg.handoff_dir + "/version");
  if (clock) st.versions = std::move(*clock);
  else st.versions_error = "version file: " + clock.error().message;
  if (!st.versions_error.empty()) log().error("{}", st.versions_error);
  for (size_t i = 0; i < st.slots.size(); ++i) attach_hints(self, i);
  for (auto& entry : std::filesystem::directory_iterator{st.cfg.handoff_dir, ec}) {
    auto name = entry.path().filename().string();
    if (entry.is_directory(ec) && name.find(".damaged-") == std::string::npos
        && std::none_of(st.slots.begin(), st.slots.end(), [&](const slot& s) { return s.name == name; }))
      st.left_out.push_back(name);
  }
}

void forget_left_out(coordinator_pointer self) {
  auto& st = self->state;
  for (auto& name : st.left_out) {
    // Once, on the first write; a file removal, cheap enough for this actor.
    auto dir = st.cfg.handoff_dir + "/" + name;
    std::error_code ec;
    if (std::filesystem::remove(dir + "/replica", ec)) {
      io::sync_dir(dir);
      log().warn("backend {} is not configured and misses this write: it will be rebuilt when "
                 "it is configured again", name);
    }
  }
  st.left_out.clear();
}

caf::expected<uint64_t> next_version(coordinator_pointer self) {
  auto& st = self->state;
  if (!st.versions_error.empty())
    return caf::error{errc::not_durable, st.versions_error};
  auto v = st.versions.next();
  if (!v) return caf::error{errc::not_durable, "cannot store the version ceiling: " + v.error().message};
  return *v;
}

void store_hint(coordinator_pointer self, size_t i, const handoff_entry& entry,
                std::function<void(std::string)> done) {
  auto& st = self->state;
  auto& s = st.slots[i];
  ++s.appends_in_flight;
  self->request(s.hints, st.cfg.recovery_call_timeout, append_atom::value,
                std::vector<handoff_entry>{entry}, true)
    .then(
      [self, i, done](uint64_t appended_total, uint64_t pending) {
        auto& s = self->state.slots[i];
        --s.appends_in_flight;
        s.appended_total = std::max(s.appended_total, appended_total);
        s.pending = pending;
        metrics(self).handoff(s.name, handoff_event::appended, 1);
        metrics(self).handoff_pending(s.name, pending);
        // It lacks a write now: no reads until the write is replayed.
        if (s.replica == replica_state::in_sync)
          set_replica(self, s, replica_state::catching_up, "missed a write");
        maybe_recover(self, i);
        done({});
      },
      [self, i, done](caf::error& err) {
        auto& s = self->state.slots[i];
        --s.appends_in_flight;
        metrics(self).handoff(s.name, handoff_event::failed, 1);
        auto why = "handoff log of " + s.name + ": " + describe(err);
        log().error("write not acknowledged: {}", why);
        // Another backend applied the write and this one cannot get it
        // through its log: only a rebuild brings it back.
        s.needs_rebuild = true;
        ++s.rebuild_requests;
        s.marker.clear();
        if (s.replica == replica_state::in_sync)
          set_replica(self, s, replica_state::rebuilding, "missed a write that could not be kept");
        done(why);
      });
}

void maybe_recover(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  if (!st.handoff() || !s.hints_loaded || s.hints_broken || !all_hints_loaded(self)) return;
  if (s.lifecycle != lifecycle_state::up || !s.handle || s.job_running || s.deciding) return;
  if (s.replica == replica_state::in_sync && !s.needs_rebuild) return;
  s.deciding = true;
  auto job = s.job;
  self->request(s.handle, st.cfg.recovery_call_timeout, marker_atom::value)
    .then(
      [self, i, job](std::string& held) {
        auto& s = self->state.slots[i];
        s.deciding = false;
        if (job != s.job || s.lifecycle != lifecycle_state::up) return;
        decide(self, i, held);
      },
      [self, i](caf::error& err) {
        auto& s = self->state.slots[i];
        s.deciding = false;
        log().warn("backend {}: cannot read its replica marker ({}); retrying", s.name,
                   describe(err));
        settle(self, s); // retried with the next probe
      });
}

void on_backend_up(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  if (!st.handoff()) return;
  ++s.job; // reports of a job from before the restart are stale now
  s.job_running = false;
  s.deciding = false;
  // A restarted store may have lost its data: check before it serves reads.
  if (s.replica == replica_state::in_sync)
    set_replica(self, s, replica_state::catching_up, "(re)started: checking its data");
  maybe_recover(self, i);
}

void on_progress(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t copied,
                 uint64_t pending, uint64_t replayed) {
  auto& st = self->state;
  if (i >= st.slots.size() || st.slots[i].job != job) return;
  auto& s = st.slots[i];
  if (copied > s.rebuilt) {
    metrics(self).rebuild_copied(s.name, copied - s.rebuilt);
    s.rebuilt = copied;
  }
  if (pending != ~uint64_t{0}) {
    s.pending = pending;
    metrics(self).handoff_pending(s.name, pending);
  }
  if (replayed > 0) metrics(self).handoff(s.name, handoff_event::replayed, replayed);
}

void on_recovered(coordinator_pointer self, uint32_t i, uint64_t job, uint64_t drained,
                  caf::error& err) {
  auto& st = self->state;
  if (i >= st.slots.size() || st.slots[i].job != job) return;
  auto& s = st.slots[i];
  s.job_running = false;
  if (err) {
    if (is_client_error(err)) {
      // A replayed write was refused: the backend holds something else than
      // the log assumes. Start over from a peer (with the next probe: no
      // tight loop if that fails too).
      log().error("backend {}: replay refused ({}); rebuilding it", s.name, describe(err));
      s.needs_rebuild = true;
      ++s.rebuild_requests;
      s.marker.clear();
      caf::anon_send(s.hints, marker_atom::value, std::string{});
      return settle(self, s);
    }
    log().warn("backend {}: recovery stopped ({}); retrying", s.name, describe(err));
    s.last_error = "recovery: " + describe(err);
    return settle(self, s);
  }
  if (s.rebuild_requests != s.job_rebuild_requests) {
    // It missed a write that could not be kept while the job ran.
    s.next_marker.clear();
    return maybe_recover(self, i);
  }
  if (!s.next_marker.empty()) {
    s.marker = std::move(s.next_marker);
    s.next_marker.clear();
    s.needs_rebuild = false;
  }
  if (s.appends_in_flight > 0 || s.appended_total > drained) {
    // Writes it missed arrived during the replay: another round.
    return spawn_job(self, i, std::nullopt, {});
  }
  s.pending = 0;
  s.queued_collections.clear();
  metrics(self).handoff_pending(s.name, 0);
  set_replica(self, s, replica_state::in_sync, "caught up");
  st.fresh = false;
  settle(self, s);
  for (size_t j = 0; j < st.slots.size(); ++j)
    if (st.slots[j].waiting_for_peer) maybe_recover(self, j);
}

// -- consistency checks ---------------------------------------------------------------

caf::result<consistency_report> start_check(coordinator_pointer self) {
  auto& st = self->state;
  check_plan plan;
  // Backends catching up or rebuilding differ by design until they are done.
  for (auto& s : st.slots) {
    if (s.lifecycle == lifecycle_state::up && s.handle && s.replica == replica_state::in_sync) {
      plan.names.push_back(s.name);
      plan.backends.push_back(s.handle);
    } else {
      auto state = s.lifecycle != lifecycle_state::up ? to_string(s.lifecycle) : to_string(s.replica);
      plan.not_compared.push_back(s.name + ": " + std::string{state});
    }
  }
  if (plan.backends.empty()) {
    consistency_report report;
    report.not_compared = std::move(plan.not_compared);
    report.error = "no backend is up and in sync";
    return report;
  }
  plan.ticket = st.next_ticket++;
  plan.call_timeout = st.cfg.recovery_call_timeout;
  auto rp = self->make_response_promise<consistency_report>();
  st.checks.emplace(plan.ticket, rp);
  spawn_checker(self->system(), std::move(plan), self);
  return rp;
}

void on_check_done(coordinator_pointer self, uint64_t ticket, consistency_report& report) {
  auto it = self->state.checks.find(ticket);
  if (it == self->state.checks.end()) return;
  it->second.deliver(std::move(report));
  self->state.checks.erase(it);
}

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
    if (s.lifecycle != lifecycle_state::up || !s.handle || s.replica != replica_state::in_sync
        || s.pending > 0 || s.appends_in_flight > 0)
      return;
  auto up_to = purge_limit(self);
  if (up_to == 0) return;
  for (auto& s : st.slots)
    self->request(s.handle, st.cfg.recovery_call_timeout, purge_atom::value, up_to)
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
