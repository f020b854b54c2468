// Latency-aware routing for reads: which backends a read tries, in which
// order, and when a slow one is hedged. A backend's recent latency per
// operation (health/latency_tracker) gives the hedge delay (its p95: "The
// Tail at Scale", Dean & Barroso 2013) and decides whether it is an outlier
// among its peers (health/latency_outliers), which puts it last in the read
// order for that operation until it recovers. The policies are pure; this
// file feeds them and logs and counts what they decide. The read path
// itself (try_read) is in coordinator_reads.cpp; the direct read path asks
// the same three functions, so both route alike.
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

/// How often demotions are looked at again without a new sample.
constexpr auto demotion_recheck = std::chrono::milliseconds(100);

double ms(duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// Recomputes who is demoted for reads of `op`; logs and counts changes.
void reconsider_demotions(coordinator_pointer self, operation op) {
  auto& st = self->state;
  auto t = now(self);
  st.demotions_due[static_cast<size_t>(op)] = t + demotion_recheck;
  auto idx = static_cast<size_t>(op);
  auto& peers = st.standings;
  peers.clear();
  for (auto& s : st.slots)
    peers.push_back({s.serves_reads(op), s.latency[idx].p95(t), s.demoted[idx]});
  for (auto i : update_demotions(peers, st.cfg.outliers)) {
    auto& s = st.slots[i];
    s.demoted[idx] = peers[i].demoted;
    std::optional<duration> best;
    for (size_t j = 0; j < peers.size(); ++j)
      if (j != i && peers[j].eligible && peers[j].p95 && (!best || *peers[j].p95 < *best))
        best = peers[j].p95;
    auto mine = peers[i].p95 ? fmt::format("{:.1f} ms", ms(*peers[i].p95)) : "unknown";
    auto theirs = best ? fmt::format("{:.1f} ms", ms(*best)) : "unknown";
    if (peers[i].demoted)
      log().warn("backend {}: demoted for {} reads (tried last): p95 {}, best peer's {}", s.name,
                 to_string(op), mine, theirs);
    else
      log().info("backend {}: promoted back for {} reads: p95 {}, best peer's {}", s.name,
                 to_string(op), mine, theirs);
    metrics(self).demoted(op, s.name, peers[i].demoted);
  }
}

} // namespace

std::vector<size_t> read_order(coordinator_pointer self, operation op) {
  auto& st = self->state;
  refresh(self);
  auto idx = static_cast<size_t>(op);
  if (now(self) >= st.demotions_due[idx]) reconsider_demotions(self, op);
  std::vector<size_t> order;
  order.reserve(st.slots.size());
  // Not demoted before demoted; within each, preferred before the rest.
  for (bool demoted_pass : {false, true})
    for (bool preferred_pass : {true, false})
      for (size_t i = 0; i < st.slots.size(); ++i) {
        auto& s = st.slots[i];
        if (s.demoted[idx] != demoted_pass) continue;
        if (s.routing.preferred().has(op) != preferred_pass) continue;
        if (!s.serves_reads(op)) continue;
        order.push_back(i);
      }
  return order;
}

std::optional<size_t> first_choice(coordinator_pointer self, operation op) {
  auto& slots = self->state.slots;
  std::optional<size_t> first;
  for (size_t i = 0; i < slots.size(); ++i) {
    auto& r = slots[i].routing;
    // One never up has unknown capabilities: it may well be the first.
    if (r.known_incapable(op)) continue;
    if (r.preferred().has(op)) return i;
    if (!first) first = i;
  }
  return first;
}

std::optional<fallback_reason> skip_reason(coordinator_pointer self, operation op) {
  auto f = first_choice(self, op);
  if (!f) return std::nullopt;
  auto& first = self->state.slots[*f];
  auto flags = first.flags(op);
  if (flags.any_of({health_flag::not_up, health_flag::held, health_flag::circuit_open,
                    health_flag::no_trial_slot}))
    return fallback_reason::unhealthy;
  if (flags.has(health_flag::not_in_sync)) return fallback_reason::catching_up;
  if (flags.has(health_flag::saturated)) return fallback_reason::busy;
  if (first.demoted[static_cast<size_t>(op)]) return fallback_reason::slow;
  return std::nullopt;
}

void count_fallback(coordinator_pointer self, operation op, size_t served, bool first_tried,
                    std::optional<fallback_reason> skipped) {
  auto& slots = self->state.slots;
  auto f = first_choice(self, op);
  if (!f || *f == served || served >= slots.size()) return;
  // Tried and failed; else why it was passed over when the read was routed
  // (or, when that is not known, now); else it came back between the
  // routing decision and the answer: it was unhealthy when routed.
  auto why = first_tried ? fallback_reason::failed
                         : skipped.value_or(skip_reason(self, op).value_or(fallback_reason::unhealthy));
  metrics(self).fallback(op, slots[*f].name, slots[served].name, why);
}

std::optional<duration> hedge_delay(coordinator_pointer self, size_t i, operation op) {
  auto& st = self->state;
  if (!st.cfg.hedging || i >= st.slots.size()) return std::nullopt;
  auto p95 = st.slots[i].latency[static_cast<size_t>(op)].p95(now(self));
  if (!p95) return std::nullopt;
  return std::max(*p95, st.cfg.hedge_min_delay);
}

void observe_latency(coordinator_pointer self, size_t i, operation op, duration d) {
  auto& st = self->state;
  if (i >= st.slots.size()) return;
  st.slots[i].latency[static_cast<size_t>(op)].record(d, now(self));
  reconsider_demotions(self, op);
}

} // namespace lifeline::detail
