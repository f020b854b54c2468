#include "cluster/leadership.hpp"

#include "actors/errors.hpp"
#include "cluster/etcd_client.hpp"
#include "cluster/write_leadership.hpp"
#include "core/log.hpp"

#include <caf/all.hpp>
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
  static inline const char* name = "lifeline.leadership";

  void publish() {
    view->set({cfg.node, leader, lead->leading(), lead->term(), error});
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
                                           caf::actor_addr owner) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.etcd = std::make_unique<etcd_client>(st.cfg.etcd, st.cfg.etcd_timeout);
  st.lead = std::make_unique<write_leadership>(
    *st.etcd, leadership_config{st.cfg.prefix, st.cfg.node, st.cfg.ttl});
  st.files = std::move(files);
  st.view = std::move(view);
  st.tick(); // before any request: a leader from the start gets versions at once
  auto period = std::chrono::duration_cast<std::chrono::milliseconds>(st.cfg.ttl) / 3;
  self->delayed_send(self, period, tick_atom::value);
  // Its timer keeps it alive: it ends with the coordinator it serves.
  self->monitor(owner);
  self->set_down_handler([self](caf::down_msg&) {
    // Hand over at once on a clean stop (a crash waits for the lease).
    if (self->state.lead->leading()) (void)self->state.lead->resign();
    self->quit();
  });
  return {
    [self, period](tick_atom) {
      self->state.tick();
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
      return self->delegate(self->state.files, a, std::move(backend));
    },
    [self](marker_atom a, std::string& backend, std::string& marker) -> caf::result<ok_atom> {
      return self->delegate(self->state.files, a, std::move(backend), std::move(marker));
    },
  };
}

} // namespace

std::string health_json(const cluster_view::snapshot& s) {
  // Names are checked at start (letters, digits, '-', '_'): no escaping needed.
  std::string out = "{\"node\":\"" + s.node + "\",\"leader\":";
  out += s.leader.empty() ? "null" : "\"" + s.leader + "\"";
  out += ",\"nodes\":[{\"name\":\"" + s.node + "\",\"state\":\""
         + (s.leading ? "leader" : s.leader.empty() ? "no-leader-known" : "follower") + "\"}";
  if (!s.leader.empty() && s.leader != s.node)
    out += ",{\"name\":\"" + s.leader + "\",\"state\":\"leader\"}";
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
                                     caf::actor_addr owner) {
  return sys.spawn<caf::detached>(leadership, std::move(cfg), std::move(files), std::move(view),
                                  std::move(owner));
}

} // namespace lifeline::cluster
