#include "cluster/leadership.hpp"

#include "actors/errors.hpp"
#include "cluster/etcd_client.hpp"
#include "cluster/write_leadership.hpp"
#include "core/log.hpp"

#include <caf/all.hpp>
#include <algorithm>
#include <spdlog/spdlog.h>

namespace lifeline::cluster {

namespace {

using tick_atom = caf::atom_constant<caf::atom("lltick")>;
using leadership_actor = durable_state_actor::extend<caf::reacts_to<tick_atom>>;
using clock = std::chrono::steady_clock;

struct leadership_state {
  cluster_config cfg;
  std::unique_ptr<etcd_client> etcd;
  std::unique_ptr<write_leadership> lead;
  durable_state_actor files;
  std::shared_ptr<cluster_view> view;
  clock::time_point renewed{}; ///< The last time etcd confirmed our lease.
  std::string leader;
  std::string error;
  caf::actor owner;
  int64_t announced_lease = 0; ///< The lease this node's address was put on.
  static inline const char* name = "lifeline.leadership";

  /// Puts this node's address on its current lease (once per lease).
  void announce() {
    if (cfg.listen.empty() || lead->lease() == 0 || lead->lease() == announced_lease) return;
    if (auto put = lead->put_on_lease(node_key(cfg, cfg.node), cfg.listen); put)
      announced_lease = lead->lease();
    else
      log().warn("cluster: node {} could not announce its address in etcd: {}", cfg.node,
                 put.error().message);
  }

  std::string marker_key(const std::string& backend) const {
    return cfg.prefix + "/markers/" + backend;
  }

  void publish() {
    view->set({cfg.node, leader, lead->leading(), lead->term(), error, {}, {}});
  }

  /// Renews while leading (stepping down once the lease must have run out
  /// unconfirmed), else campaigns.
  void tick() {
    auto now = clock::now();
    if (lead->leading()) {
      auto renewed_now = lead->renew();
      if (renewed_now && *renewed_now) {
        renewed = now;
        error.clear();
      } else if (renewed_now) {
        log().warn("cluster: node {} lost the write leadership (its lease expired)", cfg.node);
        leader.clear();
      } else {
        error = renewed_now.error().message;
        if (now - renewed >= cfg.ttl) {
          log().error("cluster: node {} steps down as write leader: its lease could not be "
                      "renewed for {} s ({})", cfg.node, cfg.ttl.count(), error);
          lead->step_down();
          leader.clear();
        }
      }
    }
    if (!lead->leading()) {
      auto v = lead->campaign();
      if (v) {
        error.clear();
        if (v->mine) {
          renewed = now;
          log().info("cluster: node {} is the write leader (term {})", cfg.node, v->term);
        } else if (v->leader != leader) {
          log().info("cluster: the write leader is {}", v->leader.empty() ? "(none)" : v->leader);
        }
        leader = v->leader;
      } else {
        error = v.error().message;
        leader.clear();
      }
    }
    announce();
    publish();
  }

  /// Why this node may not raise the ceiling now.
  caf::error not_leader() const {
    std::string why = "node " + cfg.node + " is not the write leader";
    if (!leader.empty()) why += " (the leader is " + leader + "; send writes there)";
    else if (!error.empty()) why += ": no leader is known (" + error + ")";
    else why += ": no leader is elected yet";
    return make_error(backend_error{errc::backend_unavailable, why});
  }
};

using leadership_pointer = leadership_actor::stateful_pointer<leadership_state>;

leadership_actor::behavior_type leadership(leadership_pointer self, cluster_config cfg,
                                           durable_state_actor files,
                                           std::shared_ptr<cluster_view> view,
                                           caf::actor owner) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.etcd = std::make_unique<etcd_client>(st.cfg.etcd, st.cfg.etcd_timeout);
  st.lead = std::make_unique<write_leadership>(
    *st.etcd, leadership_config{st.cfg.prefix, st.cfg.node, st.cfg.ttl});
  st.files = std::move(files);
  st.view = std::move(view);
  st.owner = std::move(owner);
  auto tell_owner = [self] {
    auto& st = self->state;
    if (st.owner)
      caf::anon_send(st.owner, leader_atom::value, st.leader, st.lead->term(), st.lead->leading());
  };
  st.tick(); // before any request: a leader from the start gets versions at once
  tell_owner();
  auto period = std::chrono::duration_cast<std::chrono::milliseconds>(st.cfg.ttl) / 3;
  self->delayed_send(self, period, tick_atom::value);
  // Its timer keeps it alive: it ends with the node it serves.
  if (st.owner) self->monitor(st.owner);
  self->set_down_handler([self](caf::down_msg&) {
    // Hand over at once on a clean stop (a crash waits for the lease).
    if (self->state.lead->leading()) (void)self->state.lead->resign();
    self->quit();
  });
  return {
    [self, period, tell_owner](tick_atom) {
      self->state.tick();
      tell_owner();
      self->delayed_send(self, period, tick_atom::value);
    },
    [self](ceiling_atom) -> caf::result<uint64_t> {
      auto stored = self->state.lead->ceiling();
      if (!stored) return make_error(stored.error());
      return *stored;
    },
    [self](ceiling_atom, uint64_t ceiling) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (st.lead->leading() && clock::now() - st.renewed >= st.cfg.ttl) {
        st.lead->step_down(); // not confirmed for a whole lease: another may lead
        st.leader.clear();
        st.publish();
      }
      if (!st.lead->leading()) return st.not_leader();
      auto stored = st.lead->raise_ceiling(ceiling);
      if (!stored) {
        st.publish();
        if (stored.error().kind == errc::conflict) return st.not_leader();
        return make_error(stored.error());
      }
      return *stored;
    },
    [self](marker_atom a, std::string& backend) -> caf::result<std::string> {
      auto& st = self->state;
      if (st.files) return self->delegate(st.files, a, std::move(backend));
      auto kv = st.etcd->get(st.marker_key(backend));
      if (!kv) return make_error(kv.error());
      return *kv ? (*kv)->value : std::string{};
    },
    [self](marker_atom a, std::string& backend, std::string& marker) -> caf::result<ok_atom> {
      auto& st = self->state;
      if (st.files) return self->delegate(st.files, a, std::move(backend), std::move(marker));
      // Only the leader of this term stores markers (fenced): a deposed one
      // can no longer vouch for a replica.
      if (!st.lead->leading()) return st.not_leader();
      auto put = st.lead->put_fenced(st.marker_key(backend), marker);
      if (!put) {
        st.publish();
        if (put.error().kind == errc::conflict) return st.not_leader();
        return make_error(put.error());
      }
      return ok_atom::value;
    },
  };
}

} // namespace

std::string node_key(const cluster_config& cfg, const std::string& node) {
  return cfg.prefix + "/nodes/" + node;
}

std::string health_json(const cluster_view::snapshot& s) {
  // Names are checked at start (letters, digits, '-', '_'): no escaping needed.
  std::string out = "{\"node\":\"" + s.node + "\",\"leader\":";
  out += s.leader.empty() ? "null" : "\"" + s.leader + "\"";
  out += ",\"nodes\":[{\"name\":\"" + s.node + "\",\"state\":\""
         + (s.leading ? "leader" : s.leader.empty() ? "no-leader-known" : "follower")
         + "\",\"reachable\":true}";
  for (auto& peer : s.peers) {
    bool reachable = std::find(s.reachable.begin(), s.reachable.end(), peer) != s.reachable.end();
    auto state = !reachable ? "unreachable" : peer == s.leader ? "leader" : "follower";
    out += ",{\"name\":\"" + peer + "\",\"state\":\"" + state + "\",\"reachable\":"
           + (reachable ? "true" : "false") + "}";
  }
  if (!s.leader.empty() && s.leader != s.node
      && std::find(s.peers.begin(), s.peers.end(), s.leader) == s.peers.end())
    out += ",{\"name\":\"" + s.leader + "\",\"state\":\"leader\",\"reachable\":false}";
  out += "]";
  if (!s.error.empty()) {
    std::string escaped;
    for (char c : s.error) {
      if (c == '"' || c == '\\') escaped += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
    }
    out += ",\"etcd_error\":\"" + escaped + "\"";
  }
  return out + "}";
}

durable_state_actor spawn_leadership(caf::actor_system& sys, cluster_config cfg,
                                     durable_state_actor files, std::shared_ptr<cluster_view> view,
                                     caf::actor owner) {
  return sys.spawn<caf::detached>(leadership, std::move(cfg), std::move(files), std::move(view),
                                  std::move(owner));
}

} // namespace lifeline::cluster
