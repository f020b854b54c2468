#include "cluster/node_front.hpp"

#include "core/log.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace lifeline::cluster {

namespace {

struct front_state {
  node_front_config cfg;
  node_wiring wiring;
  coordinator_actor current;  ///< The coordinator of the node's current part.
  bool leading = false;
  int64_t term = 0;           ///< The term `current` leads (leading only).
  uint64_t generation = 0;    ///< Coordinators spawned so far.
  std::string leader;         ///< The leader's name, as last heard.
  /// Reachable peers' fronts, with the links connected to each.
  std::map<std::string, std::pair<caf::actor, int>> peers;
  /// ready_atom callers while no coordinator runs yet.
  std::vector<caf::typed_response_promise<health_report>> awaiting_ready;
  static inline const char* name = "lifeline.node_front";
};

using front_pointer = caf::stateful_actor<front_state>*;

/// A follower's coordinator learns who leads and how to reach it.
void tell_leader(front_pointer self) {
  auto& st = self->state;
  if (!st.current || st.leading) return;
  auto it = st.peers.find(st.leader);
  self->send(st.current, leader_atom::value, st.leader,
             it != st.peers.end() ? it->second.first : caf::actor{});
}

void publish_peers(front_pointer self) {
  auto& st = self->state;
  if (!st.cfg.view) return;
  std::vector<std::string> reachable;
  for (auto& [name, front] : st.peers) reachable.push_back(name);
  st.cfg.view->set_reachable(std::move(reachable));
}

void ask_ready(front_pointer self, caf::typed_response_promise<health_report> rp) {
  auto& st = self->state;
  if (!st.current) {
    st.awaiting_ready.push_back(std::move(rp));
    return;
  }
  // Asked again every second: a coordinator replaced meanwhile drops the
  // promise it held without a word (CAF 0.17), so the new one is asked.
  self->request(st.current, std::chrono::seconds{1}, ready_atom::value)
    .then([rp](health_report& r) mutable { rp.deliver(std::move(r)); },
          [self, rp](caf::error&) mutable { ask_ready(self, std::move(rp)); });
}

/// Replaces the coordinator with one for the part given.
void take_part(front_pointer self, bool leading, int64_t term) {
  auto& st = self->state;
  if (st.current) self->send_exit(st.current, caf::exit_reason::user_shutdown);
  st.leading = leading;
  st.term = term;
  ++st.generation;
  log().info("cluster: node {} {}", st.cfg.node,
             leading ? "leads term " + std::to_string(term) + ": its coordinator fans writes out"
                     : std::string{"follows: writes go to the leader"});
  st.current = st.cfg.coordinator(leading, term, st.wiring.leadership);
  tell_leader(self);
  for (auto& r : st.wiring.reporters) self->send(r, lifecycle_atom::value);
  auto waiting = std::move(st.awaiting_ready);
  st.awaiting_ready.clear();
  for (auto& rp : waiting) ask_ready(self, std::move(rp));
}

template <class R, class... Ts>
caf::result<R> forward(front_pointer self, Ts&&... xs) {
  auto& st = self->state;
  if (!st.current)
    return caf::error{errc::backend_unavailable,
                      "node " + st.cfg.node + " is starting: it has not heard from etcd yet"};
  return self->delegate(st.current, std::forward<Ts>(xs)...);
}

caf::behavior node_front(front_pointer self, node_front_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.wiring = st.cfg.wire(caf::actor{self});
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto& r : st.wiring.reporters) self->send_exit(r, msg.reason);
    if (st.current) self->send_exit(st.current, msg.reason);
    self->quit(msg.reason);
  });
  using receipt = write_receipt;
  return {
    [self](leader_atom, std::string& leader, int64_t term, bool mine) {
      auto& st = self->state;
      st.leader = std::move(leader);
      if (mine && (!st.leading || term != st.term || !st.current)) take_part(self, true, term);
      else if (!mine && (st.leading || !st.current)) take_part(self, false, 0);
      else tell_leader(self);
    },
    [self](watch_atom, std::string& peer, caf::actor& peer_front) {
      auto& st = self->state;
      // One message per link: connected (its front) or lost (null).
      if (peer_front) {
        auto& [front, links] = st.peers[peer];
        front = std::move(peer_front);
        ++links;
      } else if (auto it = st.peers.find(peer); it != st.peers.end() && --it->second.second <= 0) {
        st.peers.erase(it);
      }
      publish_peers(self);
      if (peer == st.leader) tell_leader(self);
    },
    [self](replica_atom, const std::string& backend) -> caf::actor {
      auto& replicas = self->state.wiring.replicas;
      auto it = replicas.find(backend);
      return it != replicas.end() ? caf::actor_cast<caf::actor>(it->second) : caf::actor{};
    },
    [self](ready_atom) -> caf::result<health_report> {
      auto rp = self->make_response_promise<health_report>();
      ask_ready(self, rp);
      return rp;
    },
    [self](lifecycle_atom a, lifecycle_event& ev) {
      if (self->state.current) self->delegate(self->state.current, a, std::move(ev));
      // else: every reporter reports again to the first coordinator
    },
    [self](create_atom a, collection_spec& x) { return forward<receipt>(self, a, std::move(x)); },
    [self](drop_atom a, std::string& x) { return forward<receipt>(self, a, std::move(x)); },
    [self](upsert_atom a, std::string& c, std::vector<document>& docs) {
      return forward<receipt>(self, a, std::move(c), std::move(docs));
    },
    [self](remove_atom a, std::string& c, std::string& id) {
      return forward<receipt>(self, a, std::move(c), std::move(id));
    },
    [self](list_atom a) { return forward<served<std::vector<collection_spec>>>(self, a); },
    [self](stats_atom a, std::string& x) {
      return forward<served<collection_stats>>(self, a, std::move(x));
    },
    [self](get_atom a, std::string& c, std::string& id) {
      return forward<served<document>>(self, a, std::move(c), std::move(id));
    },
    [self](search_atom a, search_query& q) {
      return forward<served<std::vector<search_hit>>>(self, a, std::move(q));
    },
    [self](get_atom a, std::string& c, std::string& id, read_escalation& from) {
      return forward<served<document>>(self, a, std::move(c), std::move(id), std::move(from));
    },
    [self](search_atom a, search_query& q, read_escalation& from) {
      return forward<served<std::vector<search_hit>>>(self, a, std::move(q), std::move(from));
    },
    [self](health_atom a) { return forward<health_report>(self, a); },
    // A follower's coordinator asks the leader for a read lease.
    [self](lease_atom a, std::string& node) {
      return forward<replica_lease>(self, a, std::move(node));
    },
    [self](check_atom a) { return forward<consistency_report>(self, a); },
    [self](check_atom a, bool repair) { return forward<uint64_t>(self, a, repair); },
    [self](status_atom a, uint64_t id) { return forward<check_status>(self, a, id); },
    [self](ready_atom a, uint64_t id) { return forward<check_status>(self, a, id); },
    [self](restart_atom a, std::string& name) { return forward<ok_atom>(self, a, std::move(name)); },
    [self](hold_atom a, std::string& name, bool on) {
      return forward<ok_atom>(self, a, std::move(name), on);
    },
  };
}

} // namespace

coordinator_actor spawn_node_front(caf::actor_system& sys, node_front_config cfg) {
  return caf::actor_cast<coordinator_actor>(sys.spawn(node_front, std::move(cfg)));
}

} // namespace lifeline::cluster
