#include "cluster/cluster_runtime.hpp"

#include "actors/routing_snapshot.hpp"
#include "cluster/node_front.hpp"
#include "cluster/replica_link.hpp"
#include "core/log.hpp"
#include "metrics/metrics.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <future>

namespace lifeline::cluster {

namespace {

bool is_replica(const std::string& name) { return name.find('@') != std::string::npos; }

std::string base_of(const std::string& name) { return name.substr(0, name.find('@')); }

/// The coordinator for a term: the leader keeps hints and markers, a
/// follower neither (coordinator.hpp, follower and shared_markers).
coordinator_config part_config(const coordinator_config& base, bool leading, int64_t term,
                               durable_state_actor leadership, const std::string& node) {
  auto cfg = base;
  cfg.node = node;
  // Both parts read replica markers from etcd through the leadership actor
  // (a follower: whether the shared database holds every write).
  cfg.durable_wrapper = [leadership](caf::actor_system&, durable_state_actor, caf::actor_addr) {
    return leadership;
  };
  if (leading) {
    // Hints of an earlier term are obsolete: every replica that missed a
    // write then lost its marker in etcd before the write was acknowledged,
    // so it is rebuilt, and replaying old hints could undo newer writes.
    // Each term has a directory of its own, so that the old term's handoff
    // actors, which may still be stopping, never touch the new term's files.
    auto dir = std::filesystem::path{cfg.handoff_dir};
    auto mine = "term-" + std::to_string(term);
    std::error_code ec;
    for (auto& entry : std::filesystem::directory_iterator{dir, ec})
      if (entry.path().filename() != mine) std::filesystem::remove_all(entry.path(), ec);
    cfg.handoff_dir = (dir / mine).string();
    std::filesystem::create_directories(cfg.handoff_dir, ec);
    cfg.shared_markers = true;
    cfg.first_repair_delay = std::chrono::duration_cast<coordinator_config::duration>(cfg.version_lease);
    cfg.inherited_leases = cfg.read_lease + cfg.version_lease / 2;
    cfg.durable_wrapper = [leadership](caf::actor_system&, durable_state_actor, caf::actor_addr) {
      return leadership;
    };
  } else {
    cfg.follower = true;
    cfg.handoff_dir.clear();
    cfg.purge_interval = coordinator_config::duration::zero();
    cfg.repair_interval = coordinator_config::duration::zero();
  }
  return cfg;
}

} // namespace

caf::expected<runtime> spawn_cluster_runtime(caf::actor_system& sys, runtime_config rc,
                                             node_config nc, std::shared_ptr<cluster_view> view) {
  if (!rc.metrics) rc.metrics = std::make_shared<null_metrics>();
  auto base = rc.coordinator;
  base.backends.clear();
  for (auto& b : rc.backends) {
    base.backends.push_back(b.name);
    if (b.max_in_flight) base.max_in_flight_of[b.name] = *b.max_in_flight;
  }
  // Every other node's replicas, read last (after the local ones).
  std::vector<std::pair<std::string, std::string>> remote; // (peer, backend)
  for (auto& peer : nc.cluster.peers)
    for (auto& b : rc.backends)
      if (is_replica(b.name)) {
        remote.emplace_back(peer, replica_name(base_of(b.name), peer));
        base.backends.push_back(remote.back().second);
      }
  base.metrics = rc.metrics;
  if (rc.seed != 0) base.seed = rc.seed;
  if (!base.routes) base.routes = std::make_shared<routing_board>();
  runtime rt;
  rt.routes = base.routes;
  auto node = nc.cluster.node;
  auto bound = std::make_shared<std::promise<caf::expected<uint16_t>>>();
  auto port = bound->get_future();

  node_front_config fc;
  fc.node = node;
  fc.view = view;
  fc.coordinator = [&sys, base, node](bool leading, int64_t term, durable_state_actor leadership) {
    return spawn_coordinator(sys, part_config(base, leading, term, std::move(leadership), node));
  };
  fc.wire = [&sys, rc, nc, remote, view, bound](caf::actor front) mutable {
    node_wiring w;
    // Published first, so that the address announced in etcd is bound.
    auto published = sys.middleman().publish(front, nc.listen_port, nc.listen_host.c_str(), true);
    bound->set_value(published);
    if (!published) return w; // the caller stops the front
    nc.cluster.listen = nc.listen_host + ":" + std::to_string(*published);
    uint64_t n = 0;
    for (auto& b : rc.backends) {
      auto sup = spawn_supervisor(sys, supervisor_config_of(b, rc.metrics, rc.seed, ++n),
                                  caf::actor_cast<coordinator_actor>(front));
      if (is_replica(b.name)) w.replicas[b.name] = sup;
      w.reporters.push_back(caf::actor_cast<caf::actor>(sup));
    }
    for (auto& [peer, backend] : remote)
      w.reporters.push_back(spawn_replica_link(sys, {nc.cluster, peer, backend}, front));
    w.leadership = spawn_leadership(sys, nc.cluster, durable_state_actor{}, view, front);
    return w;
  };
  rt.coordinator = spawn_node_front(sys, std::move(fc));
  // The front publishes itself as it starts (on a worker thread).
  if (port.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    caf::anon_send_exit(rt.coordinator, caf::exit_reason::user_shutdown);
    return caf::make_error(caf::sec::request_timeout, "the cluster address was not bound in 30 s");
  }
  auto published = port.get();
  if (!published) {
    caf::anon_send_exit(rt.coordinator, caf::exit_reason::user_shutdown);
    rt.coordinator = coordinator_actor{};
    return std::move(published.error());
  }
  log().info("cluster: node {} listens for its peers on {}:{}", node, nc.listen_host, *published);
  return rt;
}

} // namespace lifeline::cluster
