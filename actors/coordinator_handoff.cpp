// The coordinator's side of hinted handoff: each backend's handoff log
// (opened per backend, with its size limit, waited for while it loads, and
// found damaged or broken), the hints stored for a backend that missed a
// write, and what happens when a hint cannot be kept (the log went over its
// limit or failed: the backend loses its replica marker and is rebuilt from
// a peer). Split from coordinator_recovery.cpp, which decides what to do
// with a backend that comes back (replay, adopt or rebuild) and runs it;
// this file only keeps the hints and says when they are lost.
#include "actors/coordinator_state.hpp"
#include "actors/durable_state.hpp"
#include "actors/handoff.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace lifeline::detail {

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

} // namespace

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

namespace {

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
  if (st.cfg.durable_wrapper)
    st.durable = st.cfg.durable_wrapper(self->system(), st.durable, self->address());
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

} // namespace lifeline::detail

namespace lifeline::detail {

// With shared markers (a cluster leader): the next leader trusts a replica
// whose stored marker it holds (in etcd), but it will not have this node's
// hints. So the marker goes before a write the replica missed is
// acknowledged, and comes back once the replica is in sync again. Both are
// requests from this actor to the same one, so they are stored in order.

void unmark_missed(coordinator_pointer self, size_t i, std::function<void(std::string)> done) {
  auto& st = self->state;
  auto& r = st.slots[i].replica;
  using stored = replica_slot::stored_marker;
  if (r.stored == stored::removed) {
    // A shared database (PostgreSQL): a follower that reaches no leader
    // trusts it while its marker is in etcd, and looks again every renewal
    // period. Two of them after the removal, none trusts it any more.
    auto settled = r.unmarked_at + 2 * renew_interval(st.cfg);
    if (st.slots[i].name.find('@') != std::string::npos || now(self) >= settled) return done({});
    arm(self, settled - now(self), [done] { done({}); });
    return;
  }
  r.after_unmark.push_back(std::move(done));
  if (r.stored == stored::removing) return;
  r.stored = stored::removing;
  auto finished = [self, i](std::string failure) {
    auto& r = self->state.slots[i].replica;
    r.stored = failure.empty() ? stored::removed : stored::kept;
    r.unmarked_at = now(self);
    auto waiting = std::move(r.after_unmark);
    r.after_unmark.clear();
    for (auto& w : waiting) {
      if (!failure.empty()) w(failure);
      else unmark_missed(self, i, std::move(w)); // the wait above
    }
    // It caught up while the removal was on its way: store it again.
    if (failure.empty() && r.in_sync() && !r.needs_rebuild) remark_in_sync(self, i);
  };
  self->request(st.durable, st.cfg.recovery_call_timeout, marker_atom::value, st.slots[i].name,
                std::string{})
    .then([finished](ok_atom) { finished({}); },
          [finished](caf::error& err) { finished(describe(err)); });
}

void remark_in_sync(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  auto& s = st.slots[i];
  using stored = replica_slot::stored_marker;
  if (!st.cfg.shared_markers || s.replica.stored != stored::removed || s.replica.marker.empty())
    return;
  s.replica.stored = stored::kept;
  self->request(st.durable, st.cfg.recovery_call_timeout, marker_atom::value, s.name,
                s.replica.marker)
    .then([](ok_atom) {},
          [self, i](caf::error& err) {
            // It will be rebuilt by the next leader, not lose data.
            auto& s = self->state.slots[i];
            log().warn("backend {}: its replica marker could not be stored again ({}); the next "
                       "leader will rebuild it", s.name, describe(err));
          });
}

} // namespace lifeline::detail
