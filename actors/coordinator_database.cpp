// The coordinator's view of a backend that is a replicated database (a
// postgres primary with hot standbys, issue 15). The backend itself picks
// the primary or a standby for each call and never lets a standby answer
// with data older than an acknowledged write (backends/postgres_standbys.hpp);
// what is left here is what only the coordinator can do:
// - show the primary, its timeline and each standby in health and metrics;
// - verify a backend whose database failed over to a new timeline, where
//   asynchronous replication may have lost writes it acknowledged: it is
//   rebuilt from an in-sync peer before it serves reads again.
#include "actors/coordinator_state.hpp"
#include "backends/backend.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

/// Slot #i may have lost acknowledged writes (`why`): verify it.
void verify_after_lost_writes(coordinator_pointer self, size_t i, const std::string& why) {
  auto& st = self->state;
  auto& s = st.slots[i];
  auto& r = s.replica;
  bool peer = std::any_of(st.slots.begin(), st.slots.end(),
                          [&](const slot& other) { return &other != &s; });
  if (!st.handoff() || !peer) {
    // Nothing to compare it with: take the new timeline as it is, and say
    // so (storing the marker again records the timeline).
    if (s.last_error != why)
      log().error("backend {}: {}; there is no other replica to verify it against, so it is "
                  "taken as it is",
                  s.name, why);
    s.last_error = why;
    self->request(s.routing.handle(), st.cfg.recovery_call_timeout, marker_atom::value, r.marker)
      .then([](ok_atom) {}, [](caf::error&) {}); // retried after the next probe
    return;
  }
  if (r.verifying) return; // under way: its rebuild stores the new marker when done
  r.verifying = true;
  log().warn("backend {}: {}", s.name, why);
  s.last_error = why;
  // What was copied from it may be what it lost: rebuilds from it start again.
  for (size_t j = 0; j < st.slots.size(); ++j) {
    auto& other = st.slots[j].replica;
    if (j != i && other.job_running && other.peer == i) other.must_rebuild();
  }
  // A job of its own that runs now is outdated by this (job_outdated()).
  r.must_rebuild();
  set_replica(self, s, replica_state::rebuilding, why);
  maybe_recover(self, i);
}

} // namespace

void observe_database(coordinator_pointer self, size_t i) {
  auto& s = self->state.slots[i];
  if (!s.store) return;
  database_status db;
  if (!s.store->database(db)) return;
  for (auto& standby : db.standbys) {
    auto& [reads, refused] = s.standby_counts[standby.name];
    // A restarted backend counts from 0 again.
    auto new_reads = standby.reads >= reads ? standby.reads - reads : standby.reads;
    auto new_refused = standby.refused >= refused ? standby.refused - refused : standby.refused;
    metrics(self).standby(s.name, standby.name, standby.lag_bytes, standby.serving, new_reads,
                          new_refused);
    reads = standby.reads;
    refused = standby.refused;
  }
  s.has_database = true;
  s.database = std::move(db);
  // A cluster follower leaves the verification to the leader: storing a
  // marker would record the new timeline in the shared database as checked.
  if (self->state.cfg.follower) return;
  if (auto why = s.store->lost_writes(); !why.empty()) verify_after_lost_writes(self, i, why);
  else s.replica.verifying = false;
}

} // namespace lifeline::detail
