// Read leases between a cluster's write leader and its followers (issue 16;
// coordinator_config::read_lease). The leader alone knows which replicas
// hold every acknowledged write, so a follower may read from a replica
// (its own vector store first) only while the leader vouches for it:
// - every third of a lease, a follower asks the leader; the lease counts
//   from the moment it asked, so it ends on the follower before the leader
//   counts it as ended (no clock is shared, only the rate at which time
//   passes; a tenth of the lease is kept as a margin);
// - the leader vouches for the replicas in sync whose marker is kept;
// - before the leader acknowledges a write a replica missed, every lease
//   vouching for that replica has been revoked by its follower (a round
//   trip) or has run out, and so have the leases the previous leader may
//   have granted (inherited_leases after the term starts);
// - without a lease a follower hands its reads to the leader, or, while it
//   reaches no leader, reads from the shared database (PostgreSQL) alone if
//   that database's replica marker is in etcd: a leader removes it before
//   it acknowledges a write the database missed (and then waits two of the
//   follower's checks, so that none still trusts it), and stores it again
//   once the database is in sync. With etcd unreachable too, the last
//   answer stands (with none yet: the database serves, the last resort).
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

bool is_replica(const slot& s) { return s.name.find('@') != std::string::npos; }

/// A follower trusts slot `s` (vouched) or not.
void set_vouched(coordinator_pointer self, slot& s, bool vouched) {
  auto state = vouched ? replica_state::in_sync : replica_state::catching_up;
  if (s.replica.state == state) return;
  log().debug("backend {}: {} by the write leader", s.name, vouched ? "vouched for" : "not vouched for");
  s.replica.state = state;
  metrics(self).replica(s.name, state);
  publish_routes(self);
}

bool vouched_somewhere(coordinator_pointer self, const std::string& name, time_point t) {
  auto& st = self->state;
  if (t < st.inherited_until) return true;
  return std::any_of(st.grants.begin(), st.grants.end(), [&](const auto& g) {
    return g.second.until > t && g.second.names.count(name) > 0;
  });
}

void recheck(coordinator_pointer self) {
  auto& st = self->state;
  auto t = now(self);
  std::vector<std::function<void()>> ready;
  std::erase_if(st.unvouch_waits, [&](auto& w) {
    if (vouched_somewhere(self, st.slots[w.first].name, t)) return false;
    ready.push_back(std::move(w.second));
    return true;
  });
  for (auto& done : ready) done();
}

/// Asks every follower whose lease vouches for `name` to stop trusting it.
void revoke(coordinator_pointer self, const std::string& name) {
  auto& st = self->state;
  auto t = now(self);
  for (auto& [node, g] : st.grants) {
    if (g.until <= t || !g.names.count(name) || g.revoking.count(name)) continue;
    g.revoking.insert(name);
    auto until = g.until;
    self->request(g.follower, until - t, lease_atom::value, std::vector<std::string>{name})
      .then(
        [self, node = node, name, until](ok_atom) {
          auto& grants = self->state.grants;
          if (auto it = grants.find(node); it != grants.end() && it->second.until == until) {
            it->second.names.erase(name);
            it->second.revoking.erase(name);
          }
          recheck(self);
        },
        [self](caf::error&) { recheck(self); }); // it runs out by itself
    // Whatever happens, recheck when it runs out.
    self->delayed_send(self, until - t + std::chrono::milliseconds{1}, lease_atom::value, true);
  }
  if (t < st.inherited_until)
    self->delayed_send(self, st.inherited_until - t + std::chrono::milliseconds{1},
                       lease_atom::value, true);
}

/// Without a lease or a reachable leader: the shared database serves if its
/// marker is in etcd (see the top of this file), until two renewal periods
/// after it asked (the leader waits that long after removing the marker).
void check_shared(coordinator_pointer self) {
  auto& st = self->state;
  if (!st.cfg.follower || st.leader_coordinator || st.lease_until != time_point{} || !st.durable
      || st.shared_asked > 0)
    return;
  auto every = std::max(st.cfg.read_lease / 3, std::chrono::milliseconds{100});
  auto asked = now(self);
  for (size_t i = 0; i < st.slots.size(); ++i) {
    if (is_replica(st.slots[i])) continue;
    ++st.shared_asked;
    auto trust = [self, i](bool vouched, time_point until) {
      auto& st = self->state;
      --st.shared_asked;
      if (st.leader_coordinator || st.lease_until != time_point{}) return; // a lease decides
      auto& s = st.slots[i];
      if (vouched && until > now(self)) {
        st.shared_until = until;
        self->delayed_send(self, until - now(self), lease_atom::value, true);
      }
      set_vouched(self, s, vouched && until > now(self));
      publish_routes(self); // its snapshot is good until then
    };
    self->request(st.durable, every, marker_atom::value, st.slots[i].name)
      .then(
        [self, i, asked, every, trust](std::string& marker) {
          self->state.slots[i].replica.shared_answer = marker.empty() ? 1 : 2;
          trust(!marker.empty(), asked + 2 * every * 9 / 10);
        },
        [self, i, every, trust](caf::error&) {
          // etcd unreachable: the last answer stands until the next check;
          // with none yet, the database serves, the last resort (a node cut
          // off from both the leader and etcd: docs, "Not guaranteed").
          trust(self->state.slots[i].replica.shared_answer != 1, now(self) + every);
        });
  }
}

} // namespace

caf::result<replica_lease> grant_lease(coordinator_pointer self, const std::string& node) {
  auto& st = self->state;
  if (!st.cfg.shared_markers || st.cfg.read_lease.count() == 0)
    return caf::error{errc::backend_unavailable,
                      "node " + st.cfg.node + " does not lead: it grants no read lease"};
  auto& g = st.grants[node];
  if (auto sender = self->current_sender())
    g.follower = caf::actor_cast<coordinator_actor>(sender);
  g.until = now(self) + st.cfg.read_lease;
  g.names.clear();
  g.revoking.clear();
  replica_lease lease;
  lease.lease_ms = st.cfg.read_lease.count();
  for (auto& s : st.slots)
    if (s.replica.in_sync() && s.replica.stored == replica_slot::stored_marker::kept
        && !s.replica.needs_rebuild) {
      g.names.insert(s.name);
      lease.in_sync.push_back(s.name);
    }
  return lease;
}

ok_atom revoke_lease(coordinator_pointer self, const std::vector<std::string>& names) {
  for (auto& s : self->state.slots)
    if (s.replica.leader_knows
        && (names.empty() || std::find(names.begin(), names.end(), s.name) != names.end()))
      set_vouched(self, s, false);
  return ok_atom::value;
}

void drop_lease(coordinator_pointer self) {
  auto& st = self->state;
  st.lease_until = time_point{};
  st.shared_until = time_point{};
  // Nothing is vouched for any more: reads go to the leader while one is
  // reachable (it may have acknowledged a write the shared database missed
  // once this lease could no longer be revoked), else to the shared
  // database if etcd says it holds every write (check_shared).
  for (auto& s : st.slots)
    if (s.replica.leader_knows) set_vouched(self, s, false);
  check_shared(self);
}

namespace {

/// A follower asks its leader for a lease now (or, with none, etcd about
/// the shared database), unless a request is still out.
void renew_now(coordinator_pointer self) {
  auto& st = self->state;
  if (!st.leader_coordinator) return check_shared(self);
  if (st.cfg.read_lease.count() == 0 || st.lease_asked) return;
  st.lease_asked = true;
  auto asked = now(self);
  auto leader = st.leader_coordinator;
  self->request(leader, st.cfg.read_lease, lease_atom::value, st.cfg.node)
    .then(
      [self, asked, leader](replica_lease& lease) {
        auto& st = self->state;
        st.lease_asked = false;
        if (leader != st.leader_coordinator) return; // another leader meanwhile
        auto until = asked + std::chrono::milliseconds{lease.lease_ms * 9 / 10};
        if (until <= now(self)) return;
        st.lease_until = until;
        st.shared_until = time_point{};
        for (auto& s : st.slots)
          if (s.replica.leader_knows)
            set_vouched(self, s, std::find(lease.in_sync.begin(), lease.in_sync.end(), s.name)
                                   != lease.in_sync.end());
        self->delayed_send(self, until - now(self), lease_atom::value, true);
      },
      [self](caf::error&) { self->state.lease_asked = false; }); // it runs out by itself
}

} // namespace

/// How often a follower renews (a third of a lease; 100 ms at least).
std::chrono::milliseconds renew_interval(const coordinator_config& cfg) {
  return std::max(cfg.read_lease / 3, std::chrono::milliseconds{100});
}

void on_lease_timer(coordinator_pointer self, bool expiry) {
  auto& st = self->state;
  if (!st.cfg.follower) return recheck(self); // a leader's waits
  if (expiry) {
    expire_trust(self);
    return;
  }
  renew_now(self);
  self->delayed_send(self, renew_interval(st.cfg), lease_atom::value, false);
}

void expire_trust(coordinator_pointer self) {
  auto& st = self->state;
  auto t = now(self);
  if (st.lease_until != time_point{} && t >= st.lease_until) return drop_lease(self);
  if (st.shared_until != time_point{} && t >= st.shared_until) {
    st.shared_until = time_point{};
    for (auto& s : st.slots)
      if (s.replica.leader_knows && !is_replica(s)) set_vouched(self, s, false);
    check_shared(self);
  }
}

void leader_changed(coordinator_pointer self) {
  drop_lease(self);
  renew_now(self);
}

void await_unvouched(coordinator_pointer self, size_t i, std::function<void()> done) {
  auto& st = self->state;
  auto& name = st.slots[i].name;
  if (st.cfg.read_lease.count() == 0 || !vouched_somewhere(self, name, now(self))) return done();
  st.unvouch_waits.emplace_back(i, std::move(done));
  revoke(self, name);
}

void revoke_everywhere(coordinator_pointer self, size_t i) {
  auto& st = self->state;
  if (st.cfg.shared_markers && st.cfg.read_lease.count() > 0) revoke(self, st.slots[i].name);
}

} // namespace lifeline::detail
