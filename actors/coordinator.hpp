// Spawning the fallback coordinator: the one place that decides which
// backend serves a request, retries on the next one, fans writes out and
// answers with the outage error when no backend is left.
#pragma once

#include "actors/actors.hpp"
#include "health/circuit_breaker.hpp"
#include "health/latency_outliers.hpp"
#include "health/latency_tracker.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lifeline {

class routing_board; // routing_snapshot.hpp

class metrics_sink;
class hedge_budget;

struct coordinator_config {
  using duration = std::chrono::steady_clock::duration;
  /// Backend names in priority order: reads go to the first healthy one.
  std::vector<std::string> backends;
  /// Whole-request deadline, retries included.
  duration request_timeout = std::chrono::seconds(5);
  /// Deadline of one attempt while another backend is left to fall over to
  /// (the last candidate gets whatever remains of the request deadline).
  duration attempt_timeout = std::chrono::seconds(1);
  /// With a handoff directory: once one backend applied a write, how much
  /// longer a healthy one may take before the write waits in its log
  /// instead (a failing one gets attempt_timeout).
  duration write_grace = std::chrono::seconds(1);
  /// Active health probes: every interval (scaled by a random factor in
  /// [1 - jitter, 1 + jitter]), each with its own timeout.
  duration probe_interval = std::chrono::seconds(2);
  double probe_jitter = 0.2;
  duration probe_timeout = std::chrono::seconds(1);
  circuit_breaker_config circuit;
  /// Calls in flight to one backend at most (0: no bound). Past it, a read
  /// goes to the next backend that can serve it (or is shed with
  /// `overloaded` if none can), and a write that must reach that backend is
  /// shed whole: load beyond what a backend serves is refused at once
  /// instead of queueing without bound in its mailbox.
  uint32_t backend_max_in_flight = 256;
  /// Per-backend overrides of backend_max_in_flight, by name.
  std::map<std::string, uint32_t> max_in_flight_of;
  std::shared_ptr<metrics_sink> metrics;
  /// Where the routing snapshot for direct reads is published
  /// (routing_snapshot.hpp); null: none is published.
  std::shared_ptr<routing_board> routes;
  /// How often the direct reads' outcomes are taken in.
  duration routes_interval = std::chrono::milliseconds(20);
  /// Seed for the probe jitter; 0 picks a random one.
  uint64_t seed = 0;

  // -- no acknowledged write is lost (docs/DATABASE_ARCHITECTURE.md) -------------

  /// Where each backend's handoff log (a subdirectory per backend) and the
  /// version ceiling live. Empty: no handoff, so a write a backend misses
  /// while it is down stays missing there (receipt: "skipped").
  std::string handoff_dir;
  /// Wall time each stored version ceiling reaches ahead of the versions
  /// handed out: how long the coordinator keeps acknowledging writes
  /// without storing a new ceiling. In a cluster, at most the write leader's
  /// lease: a deposed leader stops within it (fencing).
  std::chrono::seconds version_lease{60};
  /// Wraps the durable state actor the coordinator starts (a cluster keeps
  /// the version ceiling in etcd, fenced by the write leader's term:
  /// cluster/leadership.hpp). Empty: the files alone.
  /// The wrapper gets the coordinator's address: it ends when the coordinator does.
  std::function<durable_state_actor(caf::actor_system&, durable_state_actor, caf::actor_addr)>
    durable_wrapper;
  // -- several nodes (cluster/node_front.hpp) --------------------------------------

  /// A cluster follower: it keeps no handoff logs and hands out no
  /// versions. Writes go to the write leader's coordinator (leader_atom
  /// names it; a 503 while none is known). Reads are served here only by
  /// backends without '@' in their name (the shared database): the
  /// replicas' state is known to the leader alone, so they count as not in
  /// sync here, and a read those cannot serve goes to the leader.
  bool follower = false;
  /// A cluster leader: the replica markers live in etcd, where the next
  /// leader reads them, but the hints live on this node only. So a backend
  /// that misses a write loses its stored marker before the write is
  /// acknowledged (the next leader then rebuilds it), and gets it back once
  /// it is in sync again.
  bool shared_markers = false;
  /// This node's name (follower errors name it).
  std::string node;
  /// Read leases (coordinator_leases.cpp; 0: none, a follower then reads
  /// only from the shared database). A follower renews its lease every
  /// third of it; the leader vouches in it for the replicas that hold every
  /// acknowledged write, and before it acknowledges a write a replica
  /// missed, it waits until no lease vouching for that replica is left
  /// (revoked by the follower, or run out).
  std::chrono::milliseconds read_lease{0};
  /// A new leader: how long leases its predecessor granted may still run
  /// (it cannot revoke those; a write a replica missed waits this long
  /// after the term starts at most).
  duration inherited_leases = duration::zero();

  /// Run handoff logs on their own threads (each append syncs to disk).
  /// Tests on CAF's deterministic scheduler pass false.
  bool detached_io = true;
  /// How often tombstones every backend holds are forgotten; 0: never.
  duration purge_interval = std::chrono::seconds(60);
  /// Tombstones younger than this are kept (a write that timed out may still
  /// be queued at a backend; it must not outlive the delete that beat it).
  duration purge_grace = std::chrono::minutes(10);
  /// Documents per rebuild page, entries per replay page.
  uint32_t recovery_page = 1000;
  /// Deadline of each call a recovery job, check or handoff append makes.
  duration recovery_call_timeout = std::chrono::seconds(30);

  // -- anti-entropy repair (actors/checker.hpp) ----------------------------------

  /// How often a background repair round compares the backends that hold
  /// the data and copies the newer version of what differs; 0: never.
  duration repair_interval = std::chrono::minutes(10);
  /// The first background round comes this soon instead (0: after
  /// repair_interval). A new cluster leader sets it: a write its
  /// predecessor had sent out when it died may be on some replicas only
  /// (never acknowledged); the round makes them agree.
  duration first_repair_delay = duration::zero();
  /// Id ranges a background round compares per second at most (0: no bound).
  double repair_rate = 20;
  /// Entries per compared range.
  uint32_t repair_page = 1000;
  /// Check jobs running at once at most (more: overloaded).
  size_t max_check_jobs = 4;
  /// Finished check jobs kept for their status endpoint.
  size_t kept_check_jobs = 16;

  // -- handoff logs (actors/handoff.hpp) ------------------------------------------

  /// Bytes of entries a backend's handoff log may hold (not yet replayed);
  /// past it the log is dropped and the backend is rebuilt from a peer when
  /// it is back (writes are still acknowledged). 0: no limit.
  uint64_t handoff_limit_bytes = uint64_t{4096} << 20;
  /// Per-backend overrides of handoff_limit_bytes, by name.
  std::map<std::string, uint64_t> handoff_limit_of;
  /// Size of a handoff log's segment files (replayed ones are deleted).
  uint64_t handoff_segment_bytes = uint64_t{16} << 20;
  /// Below this many free bytes on a handoff log's disk: a warning and
  /// lifeline_handoff_disk_low. 0: no watermark.
  uint64_t disk_free_warn_bytes = uint64_t{1024} << 20;
  /// How long a handoff log may take to load before the coordinator says so
  /// and stops holding start-up for it. It keeps waiting: the backend serves
  /// no reads until its log is loaded and replayed, then recovers.
  duration handoff_load_timeout = std::chrono::seconds(30);
  // -- hedged reads and latency outliers (actors/coordinator_hedging.cpp) --------

  /// A read that has not answered within its backend's recent p95 for the
  /// operation is also sent to the next backend that may serve it; the first
  /// answer wins. Only with enough samples, within the budget below, and
  /// never past the attempt or request deadline.
  bool hedging = true;
  /// Hedges at most this share of reads (percent), saving at most
  /// hedge_burst unspent hedges.
  double hedge_budget_percent = 5;
  uint32_t hedge_burst = 50;
  /// The budget itself, shared with the direct read path; made from the two
  /// settings above when null.
  std::shared_ptr<hedge_budget> hedges;
  /// A hedge waits at least this long (below it, noise would spend the budget).
  duration hedge_min_delay = std::chrono::milliseconds(1);
  /// The latency window per backend and operation.
  latency_tracker_config latency;
  /// When a backend's latency demotes it for an operation's reads (factor 0:
  /// never).
  latency_outlier_config outliers;

  /// Tests only: runs on a handoff log's thread before it loads (backend name).
  std::function<void(const std::string&)> before_hints_load;
};

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_config cfg);

} // namespace lifeline
