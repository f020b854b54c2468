// A cluster follower's coordinator (coordinator_config::follower; issue 16).
// The write leader alone knows whether each replica holds every
// acknowledged write: it fans the writes out and keeps the hints. So a
// follower hands every write to the leader, serves reads from the replicas
// the leader's read lease vouches for (coordinator_leases.cpp) or else from
// the shared database (a backend without '@' in its name), and hands the
// leader the reads none of those can serve. A follower that knows no
// leader (etcd unreachable, an election under way) answers from the
// database alone, or with the outage error: never from a replica no lease
// vouches for.
#include "actors/coordinator_state.hpp"

namespace lifeline::detail {

caf::error no_leader(coordinator_pointer self) {
  auto& st = self->state;
  std::string why = "node " + st.cfg.node + " follows the write leader";
  why += st.leader.empty() ? ", and no leader is known right now; retry shortly"
                           : " (" + st.leader + "), which this node cannot reach right now";
  return caf::error{errc::backend_unavailable, why};
}

bool read_goes_to_leader(coordinator_pointer self, operation op, uint64_t tried) {
  auto& st = self->state;
  if (!st.cfg.follower || !st.leader_coordinator) return false;
  refresh(self);
  for (size_t i = 0; i < st.slots.size(); ++i)
    if ((tried & (uint64_t{1} << i)) == 0 && st.slots[i].takes_read(op)) return false;
  return true;
}

void start_follower(coordinator_pointer self) {
  auto& st = self->state;
  if (st.cfg.durable_wrapper)
    st.durable = st.cfg.durable_wrapper(self->system(), durable_state_actor{}, self->address());
  // Nothing is vouched for until a lease (coordinator_leases.cpp) or etcd's
  // markers say so.
  for (auto& s : st.slots) {
    s.replica.leader_knows = true;
    s.replica.state = replica_state::catching_up;
    metrics(self).replica(s.name, s.replica.state);
  }
  publish_routes(self);
  on_lease_timer(self, false);
}

} // namespace lifeline::detail
