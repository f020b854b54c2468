// A cluster follower's coordinator (coordinator_config::follower; issue 16).
// The write leader alone knows whether each replica holds every
// acknowledged write: it fans the writes out and keeps the hints. So a
// follower hands every write to the leader, serves reads only from the
// shared database (a backend without '@' in its name), and hands the leader
// the reads that database cannot serve. Only a follower that knows no
// leader (etcd unreachable, an election under way) answers from the
// database alone, or with the outage error: never from a replica it cannot
// vouch for.
#include "actors/coordinator_state.hpp"

namespace lifeline::detail {

caf::error no_leader(coordinator_pointer self) {
  auto& st = self->state;
  std::string why = "node " + st.cfg.node + " follows the write leader";
  why += st.leader.empty() ? ", and no leader is known right now; retry shortly"
                           : " (" + st.leader + "), which this node cannot reach right now";
  return caf::error{errc::backend_unavailable, why};
}

bool read_goes_to_leader(coordinator_pointer self, operation op) {
  auto& st = self->state;
  if (!st.cfg.follower || !st.leader_coordinator) return false;
  refresh(self);
  return std::none_of(st.slots.begin(), st.slots.end(),
                      [op](const slot& s) { return s.takes_read(op); });
}

void start_follower(coordinator_pointer self) {
  for (auto& s : self->state.slots) {
    if (s.name.find('@') == std::string::npos) continue;
    s.replica.leader_knows = true;
    s.replica.state = replica_state::catching_up;
    metrics(self).replica(s.name, s.replica.state);
  }
  publish_routes(self);
}

} // namespace lifeline::detail
