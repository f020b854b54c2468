// The coordinator's side of direct reads (direct_reads.hpp): it publishes
// the routing snapshot, takes back the outcomes of the reads that followed
// it, and routes the reads the direct path hands over. The snapshot names a
// backend for an operation only when the coordinator would send that read
// there with a plain call: the first backend in its read order is in sync,
// up, its circuit closed (no trial to take), and it answers without
// blocking. Anything else, and every failure, is decided here as before.
#include "actors/coordinator_state.hpp"
#include "actors/routing_snapshot.hpp"
#include "backends/backend.hpp"

#include <algorithm>

namespace lifeline::detail {

namespace {

constexpr operation direct_ops[] = {operation::get, operation::search};

/// Whether a hedge of a read on order[0] has somewhere to go, by the rules
/// the coordinator's own hedges follow (coordinator_reads.cpp): not to a
/// backend demoted for `op`, and not from one that prefers `op` to one that
/// does not (an exact scan in PostgreSQL behind a vector index). The read
/// handed over then goes to the next in order, which is such a backend:
/// demoted ones come last, and preferring ones first.
bool hedge_target(coordinator_pointer self, const std::vector<size_t>& order, operation op) {
  auto& slots = self->state.slots;
  bool first_prefers = slots[order.front()].routing.preferred().has(op);
  for (size_t k = 1; k < order.size(); ++k) {
    auto& c = slots[order[k]];
    if (c.demoted[static_cast<size_t>(op)]) continue;
    if (first_prefers && !c.routing.preferred().has(op)) continue;
    return true;
  }
  return false;
}

/// The first backend a read of `op` would go to now, if it can be called
/// directly; nullopt otherwise.
std::optional<direct_route> first_route(coordinator_pointer self, operation op) {
  auto& st = self->state;
  auto order = read_order(self, op);
  if (order.empty()) return std::nullopt;
  auto& s = st.slots[order.front()];
  if (!s.store || !s.store->direct_reads().has(op)) return std::nullopt;
  if (s.routing.circuit() != circuit_state::closed) return std::nullopt;
  direct_route r;
  r.slot = static_cast<uint32_t>(order.front());
  r.name = s.name;
  r.store = s.store;
  r.max_calls = s.routing.max_calls();
  // With another backend left, a read gives up on this one after the
  // attempt timeout; with none, it waits as long as the request may.
  r.give_up_after = order.size() > 1 ? st.cfg.attempt_timeout : st.cfg.request_timeout;
  if (hedge_target(self, order, op))
    if (auto d = hedge_delay(self, order.front(), op)) r.hedge_after = *d;
  return r;
}

/// Rounds a hedge delay to a few steps per octave, so that a p95 that moves
/// a little does not publish a snapshot each time.
uint64_t bucket(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return 0;
  auto us = static_cast<uint64_t>(d.count() / 1000 + 1);
  uint64_t b = 0;
  while (us > 1) {
    us = us * 3 / 4;
    ++b;
  }
  return b + 1;
}

} // namespace

void publish_routes(coordinator_pointer self) {
  auto& st = self->state;
  if (!st.cfg.routes) return;
  auto snap = std::make_shared<routing_snapshot>();
  std::vector<uint64_t> sig;
  for (auto op : direct_ops) {
    auto r = first_route(self, op);
    auto& list = op == operation::search ? snap->search : snap->get;
    if (r) {
      sig.insert(sig.end(), {uint64_t{r->slot} + 1, reinterpret_cast<uintptr_t>(r->store.get()),
                             bucket(r->hedge_after), uint64_t(r->give_up_after.count()),
                             r->max_calls});
      list.push_back(std::move(*r));
    } else {
      sig.push_back(0);
    }
  }
  // A follower's backends serve under the leader's read lease (or, without
  // a leader, etcd's word on the shared database): the snapshot is good
  // until that runs out (a read after that goes to the coordinator, which
  // drops it at once). A process frozen past it must not wake up trusting it.
  if (st.cfg.follower) {
    auto until = st.lease_until != time_point{} ? st.lease_until : st.shared_until;
    if (until != time_point{}) {
      snap->valid_until = until;
      sig.push_back(static_cast<uint64_t>(until.time_since_epoch().count()));
    }
  }
  if (sig == st.routes_signature) return;
  st.routes_signature = std::move(sig);
  snap->generation = ++st.routes_generation;
  st.cfg.routes->publish(std::move(snap));
}

void on_routes_tick(coordinator_pointer self) {
  auto& st = self->state;
  if (!st.cfg.routes) return;
  for (auto& o : st.cfg.routes->drain()) {
    if (o.slot >= st.slots.size()) continue;
    if (!o.served_by.empty()) {
      // A read handed over, answered by the coordinator from `served_by`:
      // a hedge that won, or a fallback (the coordinator leaves counting
      // those to here, where it is known which answer the caller got).
      if (!o.hedge_won_by.empty()) {
        metrics(self).hedge_won(o.op, o.hedge_won_by);
        continue;
      }
      if (!o.delivered) continue;
      auto it = std::find_if(st.slots.begin(), st.slots.end(),
                             [&](const slot& s) { return s.name == o.served_by; });
      if (it == st.slots.end()) continue;
      auto f = first_choice(self, o.op);
      count_fallback(self, o.op, static_cast<size_t>(it - st.slots.begin()), f && *f == o.slot);
      continue;
    }
    // The read was admitted by a closed circuit when it was routed.
    record(self, o.slot, o.op, permit{true, false}, o.err, o.latency);
    if (!o.err) observe_latency(self, o.slot, o.op, o.latency);
    // Answered on the route the snapshot gave: a fallback if the first
    // choice was not routed to (an open circuit, catching up, ...).
    if (o.delivered) count_fallback(self, o.op, o.slot, false);
  }
  refresh(self); // time-based transitions, and publishes what changed
  publish_routes(self);
  self->delayed_send(self, st.cfg.routes_interval, routes_atom::value);
}

namespace {

void take_failure(coordinator_pointer self, operation op, const read_escalation& from) {
  auto& st = self->state;
  if (from.failed < 0 || static_cast<size_t>(from.failed) >= st.slots.size() || !from.err) return;
  record(self, static_cast<size_t>(from.failed), op, permit{true, false}, from.err,
         std::chrono::nanoseconds{from.latency_ns});
}

} // namespace

/// A hedge handed over: counted against the backend it will go to (the
/// next in order once the slow one is skipped), as the coordinator's own.
void count_hedge(coordinator_pointer self, operation op, const read_escalation& from) {
  if (!from.hedge) return;
  for (auto i : read_order(self, op))
    if (!((from.tried >> i) & 1u)) {
      metrics(self).hedge_sent(op, self->state.slots[i].name);
      return;
    }
}

caf::result<served<document>> get_handed_over(coordinator_pointer self, std::string& c,
                                              std::string& id, read_escalation& from) {
  take_failure(self, operation::get, from);
  count_hedge(self, operation::get, from);
  return get_document(self, c, id, from);
}

caf::result<served<std::vector<search_hit>>>
search_handed_over(coordinator_pointer self, search_query& q, read_escalation& from) {
  take_failure(self, operation::search, from);
  count_hedge(self, operation::search, from);
  return search_documents(self, q, from);
}

} // namespace lifeline::detail
