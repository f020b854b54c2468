// Who the cluster's write leader is, decided in etcd (issue 16), after the
// pattern of etcd's own election recipe and Patroni's leader key:
// - a node campaigns by creating the leader key, attached to a lease of its
//   own, in a transaction that succeeds only if the key does not exist;
// - it stays leader while it renews the lease; a node that dies or is cut
//   off stops renewing, the lease expires, etcd deletes the key and another
//   node's campaign succeeds;
// - the key's create revision names the term: it is the fencing token. The
//   version ceiling (the highest version a leader may hand out) lives in
//   etcd and is raised only in a transaction that compares the leader key's
//   create revision and value with this node's term, so a deposed leader
//   can no longer raise it, and stops acknowledging writes once its
//   versions run out (at most one lease period later).
// Plain C++ over etcd_client: the caller drives it from a timer (renew every
// ttl/3) and asks before each block of versions. No CAF here.
#pragma once

#include "cluster/etcd_client.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace lifeline::cluster {

struct leadership_config {
  std::string prefix = "/lifeline";   ///< Keys live under it (one cluster per prefix).
  std::string node;                   ///< This node's name (the leader key's value).
  std::chrono::seconds ttl{5};        ///< The lease: how long a dead leader holds on.
};

struct leader_view {
  bool mine = false;          ///< This node leads.
  std::string leader;         ///< The leader's name ("" if none right now).
  int64_t term = 0;           ///< The leader key's create revision (0: none).
};

class write_leadership {
public:
  write_leadership(etcd_client& etcd, leadership_config cfg);

  /// One attempt to become leader (a lease of its own first, if it holds
  /// none); answers who leads either way.
  expected<leader_view> campaign();
  /// Renews this node's lease; false (and not leader any more) once it has
  /// expired. An error (etcd unreachable) leaves the lease to expire by
  /// itself: the caller must stop acting as leader by the time it would.
  expected<bool> renew();
  /// Raises the version ceiling to at least `at_least`, fenced by this
  /// node's term; answers the ceiling now stored. Fails with `conflict`
  /// when this node is not (any more) the leader of its term.
  expected<uint64_t> raise_ceiling(uint64_t at_least);
  /// The stored ceiling (0 if none yet).
  expected<uint64_t> ceiling();
  /// Gives up leadership at once (revokes the lease; the key goes with it).
  expected<void> resign();
  /// Stops acting as leader without telling etcd (it cannot be reached and
  /// the lease has run out by now): the next campaign takes a new lease.
  void step_down() {
    lease_ = 0;
    term_ = 0;
  }

  /// Puts `key` = `value` only while this node leads its term (fenced, like
  /// the ceiling): conflict once it does not.
  expected<void> put_fenced(const std::string& key, const std::string& value);
  /// Puts `key` = `value` on this node's lease (it goes when the node
  /// stops renewing): how a node announces where it listens.
  expected<void> put_on_lease(const std::string& key, const std::string& value);

  bool leading() const { return term_ != 0; }
  int64_t term() const { return term_; }
  /// This node's lease (0: none); a new one after it ran out.
  int64_t lease() const { return lease_; }
  const std::string& leader_key() const { return leader_key_; }

private:
  expected<leader_view> campaign_once(bool retried_own_term);

  etcd_client& etcd_;
  leadership_config cfg_;
  std::string leader_key_, ceiling_key_;
  int64_t lease_ = 0; ///< This node's lease (0: none).
  int64_t term_ = 0;  ///< The term this node leads (0: not leading).
};

} // namespace lifeline::cluster
