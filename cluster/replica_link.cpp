#include "cluster/replica_link.hpp"

#include "actors/actors.hpp"
#include "cluster/etcd_client.hpp"
#include "cluster/node_front.hpp"
#include "cluster/node_network.hpp"
#include "core/log.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <charconv>

namespace lifeline::cluster {

namespace {

using retry_atom = caf::atom_constant<caf::atom("llretry")>;

struct link_state {
  replica_link_config cfg;
  caf::actor front;            ///< The local node's front.
  std::unique_ptr<etcd_client> etcd;
  caf::actor peer_front;       ///< The peer's front, while connected.
  caf::actor peer_supervisor;  ///< The replica's supervisor there.
  lifecycle_event last;        ///< As last reported to the front.
  std::chrono::milliseconds backoff{0};
  uint64_t attempt = 0;        ///< Only the latest attempt's replies count.
  bool connected = false;
  static inline const char* name = "lifeline.replica_link";
};

using link_pointer = caf::stateful_actor<link_state>*;

void report(link_pointer self, lifecycle_event ev) {
  auto& st = self->state;
  ev.backend = st.cfg.backend;
  ev.store = nullptr;
  st.last = ev;
  self->send(st.front, lifecycle_atom::value, std::move(ev));
}

void connect(link_pointer self);

/// The attempt failed or the connection dropped: the replica is down until
/// the next attempt succeeds.
void lost(link_pointer self, const std::string& why) {
  auto& st = self->state;
  if (st.connected || st.last.state != lifecycle_state::failed || st.last.reason != why)
    log().log(st.connected ? spdlog::level::warn : spdlog::level::debug,
              "cluster: replica {} on node {}: {}", st.cfg.backend, st.cfg.peer, why);
  if (st.peer_front) self->demonitor(st.peer_front);
  if (st.peer_supervisor) self->demonitor(st.peer_supervisor);
  st.peer_front = st.peer_supervisor = nullptr;
  if (st.connected) self->send(st.front, watch_atom::value, st.cfg.peer, caf::actor{});
  st.connected = false;
  auto ev = st.last;
  ev.state = lifecycle_state::failed;
  ev.reason = "node " + st.cfg.peer + ": " + why;
  ev.handle = backend_actor{};
  report(self, std::move(ev));
  st.backoff = st.backoff.count() == 0 ? st.cfg.retry_min : std::min(st.backoff * 2, st.cfg.retry_max);
  self->delayed_send(self, st.backoff, retry_atom::value, ++st.attempt);
}

/// "host:port" (the port last, so an IPv6 host may hold colons).
bool split_address(const std::string& text, std::string& host, uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data() + colon + 1, end, port);
  return ec == std::errc{} && p == end && port != 0;
}

void connect(link_pointer self) {
  auto& st = self->state;
  auto attempt = ++st.attempt;
  auto kv = st.etcd->get(node_key(st.cfg.cluster, st.cfg.peer));
  if (!kv) return lost(self, "cannot read its address in etcd: " + kv.error().message);
  if (!*kv) return lost(self, "not running (it has not announced an address in etcd)");
  std::string host;
  uint16_t port = 0;
  if (!split_address((*kv)->value, host, port))
    return lost(self, "it announced an address that is not host:port: " + (*kv)->value);
  auto timeout = st.cfg.connect_timeout;
  auto stale = [self, attempt] { return attempt != self->state.attempt; };
  connect_actor(self, host, port, timeout, [self, timeout, stale](caf::expected<caf::actor> peer) {
    if (stale()) return;
    if (!peer) return lost(self, "cannot connect: " + to_string(peer.error()));
    auto peer_front = std::move(*peer);
    self->request(peer_front, timeout, replica_atom::value, self->state.cfg.backend)
      .then(
        [self, peer_front, stale](caf::actor& supervisor) {
          if (stale()) return;
          auto& st = self->state;
          if (!supervisor) return lost(self, "it keeps no backend " + st.cfg.backend);
          st.peer_front = peer_front;
          st.peer_supervisor = std::move(supervisor);
          self->monitor(st.peer_front);
          self->monitor(st.peer_supervisor);
          st.connected = true;
          st.backoff = std::chrono::milliseconds{0};
          log().info("cluster: connected to replica {} on node {}", st.cfg.backend, st.cfg.peer);
          // Its current state comes back first, then every change.
          self->send(st.peer_supervisor, watch_atom::value, caf::actor{self});
          self->send(st.front, watch_atom::value, st.cfg.peer, st.peer_front);
        },
        [self, stale](caf::error& err) {
          if (!stale()) lost(self, "no answer from it: " + to_string(err));
        });
  });
}

caf::behavior replica_link(link_pointer self, replica_link_config cfg, caf::actor front) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.front = std::move(front);
  st.etcd = std::make_unique<etcd_client>(st.cfg.cluster.etcd, st.cfg.cluster.etcd_timeout);
  st.last.backend = st.cfg.backend;
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source == st.front.address()) return self->quit(msg.reason);
    if ((st.peer_front && msg.source == st.peer_front.address())
        || (st.peer_supervisor && msg.source == st.peer_supervisor.address()))
      lost(self, "unreachable (" + to_string(msg.reason) + ")");
  });
  self->monitor(st.front); // its retry timer keeps it alive: it ends with the node
  connect(self);
  return {
    [self](retry_atom, uint64_t attempt) {
      if (attempt == self->state.attempt && !self->state.connected) connect(self);
    },
    // The replica's supervisor on the peer: a lifecycle event.
    [self](lifecycle_atom, lifecycle_event& ev) {
      if (!self->state.connected) return;
      report(self, std::move(ev));
    },
    // The front replaced its coordinator: report again.
    [self](lifecycle_atom) { report(self, self->state.last); },
    // The coordinator treats this link as the replica's supervisor.
    [self](hold_atom a, bool on) -> caf::result<ok_atom> {
      auto& st = self->state;
      if (!st.peer_supervisor)
        return caf::error{errc::backend_unavailable,
                          "node " + st.cfg.peer + " is not reachable: " + st.last.reason};
      return self->delegate(caf::actor_cast<supervisor_actor>(st.peer_supervisor), a, on);
    },
    [self](status_atom) { return self->state.last; },
  };
}

} // namespace

caf::actor spawn_replica_link(caf::actor_system& sys, replica_link_config cfg, caf::actor front) {
  return sys.spawn<caf::detached>(replica_link, std::move(cfg), std::move(front));
}

} // namespace lifeline::cluster
