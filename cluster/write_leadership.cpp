#include "cluster/write_leadership.hpp"

#include <charconv>

namespace lifeline::cluster {

namespace {

/// Concurrent raises of the ceiling by the same leader (or a stale read)
/// retry this often before giving up.
constexpr int ceiling_attempts = 5;

uint64_t number(const std::string& text) {
  uint64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

} // namespace

write_leadership::write_leadership(etcd_client& etcd, leadership_config cfg)
  : etcd_(etcd), cfg_(std::move(cfg)), leader_key_(cfg_.prefix + "/leader"),
    ceiling_key_(cfg_.prefix + "/version-ceiling") {}

expected<leader_view> write_leadership::campaign() { return campaign_once(false); }

expected<leader_view> write_leadership::campaign_once(bool retried_own_term) {
  if (lease_ != 0 && term_ == 0) {
    // A follower's lease is not renewed between campaigns: it may have run
    // out (a key put on it now would vanish at once). Keep it, or start anew.
    auto left = etcd_.keepalive(lease_);
    if (!left) return left.error();
    if (*left == 0) lease_ = 0;
  }
  if (lease_ == 0) {
    auto lease = etcd_.grant(cfg_.ttl);
    if (!lease) return lease.error();
    lease_ = *lease;
  }
  auto r = etcd_.txn({{leader_key_, etcd_compare::field::create_revision, 0, {}}},
                     {{leader_key_, cfg_.node, lease_}}, {leader_key_});
  if (!r) return r.error();
  if (r->succeeded) {
    // Created in this transaction: its revision is the key's create revision.
    term_ = r->revision;
    return leader_view{true, cfg_.node, term_};
  }
  auto held = r->read.empty() ? std::optional<etcd_kv>{} : r->read[0];
  if (!held) return leader_view{}; // it expired between the compare and the read
  if (held->value == cfg_.node && held->lease != lease_ && !retried_own_term) {
    // This node's own earlier term, on a lease it gave up (it stepped down
    // when it could not renew it, e.g. while etcd was down): it acknowledges
    // nothing under it any more, so end it now instead of waiting it out.
    // (Node names must be unique in a cluster.)
    if (auto revoked = etcd_.revoke(held->lease); !revoked) return revoked.error();
    retried_own_term = true;
    return campaign_once(true);
  }
  // Our own key from an earlier campaign on the same lease (a retried call).
  bool ours = held->value == cfg_.node && held->lease == lease_;
  term_ = ours ? held->create_revision : 0;
  return leader_view{ours, held->value, held->create_revision};
}

expected<bool> write_leadership::renew() {
  if (lease_ == 0) return false;
  auto left = etcd_.keepalive(lease_);
  if (!left) return left.error();
  if (*left > 0) return true;
  // Expired: the key is gone with it, and a new campaign needs a new lease.
  lease_ = 0;
  term_ = 0;
  return false;
}

expected<uint64_t> write_leadership::ceiling() {
  auto kv = etcd_.get(ceiling_key_);
  if (!kv) return kv.error();
  return *kv ? number((*kv)->value) : 0;
}

expected<uint64_t> write_leadership::raise_ceiling(uint64_t at_least) {
  if (term_ == 0)
    return backend_error{errc::conflict, "node " + cfg_.node + " is not the write leader"};
  for (int attempt = 0; attempt < ceiling_attempts; ++attempt) {
    auto stored = etcd_.get(ceiling_key_);
    if (!stored) return stored.error();
    uint64_t now = *stored ? number((*stored)->value) : 0;
    if (now >= at_least) {
      // Still ours? A raise that changes nothing must be fenced too.
      auto lead = etcd_.get(leader_key_);
      if (!lead) return lead.error();
      if (!*lead || (*lead)->create_revision != term_ || (*lead)->value != cfg_.node) break;
      return now;
    }
    auto r = etcd_.txn(
      {{leader_key_, etcd_compare::field::create_revision, term_, {}},
       {leader_key_, etcd_compare::field::value, 0, cfg_.node},
       {ceiling_key_, etcd_compare::field::mod_revision, *stored ? (*stored)->mod_revision : 0, {}}},
      {{ceiling_key_, std::to_string(at_least), 0}}, {leader_key_});
    if (!r) return r.error();
    if (r->succeeded) return at_least;
    auto lead = r->read.empty() ? std::optional<etcd_kv>{} : r->read[0];
    if (!lead || lead->create_revision != term_ || lead->value != cfg_.node) break;
    // Only the ceiling moved under us (a concurrent raise of ours): again.
  }
  term_ = 0;
  return backend_error{errc::conflict, "node " + cfg_.node
                                         + " is no longer the write leader: its term ended, so it"
                                           " may not raise the version ceiling (fenced)"};
}

expected<void> write_leadership::put_fenced(const std::string& key, const std::string& value) {
  if (term_ == 0)
    return backend_error{errc::conflict, "node " + cfg_.node + " is not the write leader"};
  auto r = etcd_.txn({{leader_key_, etcd_compare::field::create_revision, term_, {}},
                      {leader_key_, etcd_compare::field::value, 0, cfg_.node}},
                     {{key, value, 0}});
  if (!r) return r.error();
  if (r->succeeded) return {};
  term_ = 0;
  return backend_error{errc::conflict, "node " + cfg_.node
                                         + " is no longer the write leader: its term ended"};
}

expected<void> write_leadership::put_on_lease(const std::string& key, const std::string& value) {
  if (lease_ == 0) return backend_error{errc::backend_unavailable, "no lease"};
  auto r = etcd_.txn({}, {{key, value, lease_}});
  if (!r) return r.error();
  return {};
}

expected<void> write_leadership::resign() {
  if (lease_ == 0) return {};
  auto lease = lease_;
  lease_ = 0;
  term_ = 0;
  return etcd_.revoke(lease);
}

} // namespace lifeline::cluster
