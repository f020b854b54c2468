// The fallback coordinator's behavior (the handler list, below) and the
// call bookkeeping its read path, write path and probes share: circuit
// transitions, per-call records, the outage and overload errors, attempt
// deadlines. The paths themselves live in coordinator_reads.cpp,
// coordinator_writes.cpp and coordinator_health.cpp (see coordinator_state.hpp).
#include "actors/coordinator.hpp"

#include "actors/coordinator_state.hpp"
#include "core/log.hpp"
#include "actors/routing_snapshot.hpp"
#include "health/hedge_budget.hpp"

#include <spdlog/spdlog.h>

namespace lifeline {

namespace detail {

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Logs and counts a circuit transition that happened since the last call
/// (including the time-based open -> half-open one, seen by refresh): one
/// line per state change.
void sync_circuit(coordinator_pointer self, slot& s, std::string_view cause) {
  auto state = s.routing.circuit();
  if (state == s.reported) return;
  auto level = state == circuit_state::open ? spdlog::level::warn : spdlog::level::info;
  log().log(level, "backend {}: circuit {} -> {}{}{}", s.name, to_string(s.reported),
            to_string(state), cause.empty() ? "" : ": ", cause);
  s.reported = state;
  s.since_unix_ms = unix_ms();
  metrics(self).circuit(s.name, state);
  publish_routes(self);
}

void refresh(coordinator_pointer self) {
  auto t = now(self);
  // A follower's read lease is a time-based transition too.
  if (self->state.cfg.follower) expire_trust(self);
  for (auto& s : self->state.slots) {
    s.routing.refresh(t);
    sync_circuit(self, s);
  }
}

slot make_slot(std::string name, const coordinator_config& cfg) {
  auto bound = cfg.max_in_flight_of.find(name);
  auto max_calls = bound != cfg.max_in_flight_of.end() ? bound->second : cfg.backend_max_in_flight;
  return slot{std::move(name), cfg.circuit, max_calls, cfg.latency};
}

caf::error overloaded(coordinator_pointer self, operation op) {
  return caf::error{errc::overloaded, "every backend that could serve " + std::string{to_string(op)}
                                        + " is at its limit of calls in flight ("
                                        + std::to_string(self->state.cfg.backend_max_in_flight)
                                        + " by default); retry later"};
}

/// Why `s` cannot serve `op` right now (for the outage error), from its
/// flags as of the last refresh.
std::string why_not(const slot& s, operation op) {
  auto with_error = [&](std::string text) {
    return s.last_error.empty() ? text : text + ": " + s.last_error;
  };
  auto& r = s.routing;
  auto& rep = s.replica;
  auto f = s.flags(op);
  if (r.known_incapable(op))
    return "does not support " + std::string{to_string(op)};
  if (f.has(health_flag::not_up)) return with_error(std::string{to_string(r.lifecycle())});
  if (f.has(health_flag::held)) return with_error("held by an operator");
  if (rep.leader_knows && !rep.in_sync())
    return "not vouched for by the write leader's read lease (this node follows)";
  if (rep.state == replica_state::catching_up)
    return "catching up (" + std::to_string(rep.pending) + " writes pending)";
  if (rep.state == replica_state::rebuilding)
    return rep.waiting_for_peer ? std::string{"must be rebuilt, no peer in sync"}
                                : "rebuilding (" + std::to_string(rep.rebuilt) + " documents copied)";
  if (f.has(health_flag::circuit_open)) return with_error("circuit open");
  if (f.has(health_flag::no_trial_slot)) return with_error("circuit half-open, trials in flight");
  return with_error("failed");
}

caf::error outage(coordinator_pointer self, operation op) {
  auto& st = self->state;
  if (std::all_of(st.slots.begin(), st.slots.end(),
                  [op](const slot& s) { return s.routing.known_incapable(op); }))
    return caf::error{errc::unsupported,
                      "no configured backend supports " + std::string{to_string(op)}};
  outage_details d;
  d.operation = std::string{to_string(op)};
  for (auto& s : st.slots) {
    d.backends.push_back(s.name);
    d.reasons.push_back(why_not(s, op));
  }
  auto err = make_outage_error(d);
  metrics(self).outage(op);
  if (!st.in_outage) {
    st.in_outage = true;
    log().error("outage began: {}", describe(err));
  }
  return err;
}

void served_ok(coordinator_pointer self) {
  auto& st = self->state;
  if (st.in_outage) {
    st.in_outage = false;
    log().info("outage ended: requests are served again");
  }
}

call_result classify(const caf::error& err) {
  if (is(err, errc::backend_unavailable) || err == caf::sec::request_receiver_down)
    return call_result::connection_failure;
  // One damaged document: the backend answered correctly (it refused to
  // serve what failed its check), so its circuit sees a success.
  if (is(err, errc::corrupt_document)) return call_result::success;
  return call_result::failure;
}

call_outcome outcome_of(const caf::error& err) {
  if (err == caf::sec::request_timeout || is(err, errc::timeout)) return call_outcome::timeout;
  if (is(err, errc::corrupt_document)) return call_outcome::damaged_document;
  return call_outcome::failure;
}

/// Feeds the outcome of one call on slot #i into its circuit and metrics.
void record(coordinator_pointer self, size_t i, operation op, permit p, const caf::error& err,
            duration latency) {
  auto& s = self->state.slots[i];
  if (!err || is_client_error(err)) {
    metrics(self).backend_call(op, s.name, err ? call_outcome::client_error : call_outcome::success,
                               latency);
    s.routing.record(p, call_result::success, latency, now(self));
    sync_circuit(self, s);
    return;
  }
  if (is(err, errc::corrupt_document)) {
    // The document's fault, not the backend's health: no last_error, and
    // its circuit counts a success (classify).
    log().warn("backend {}: {}: {}", s.name, to_string(op), describe(err));
    metrics(self).backend_call(op, s.name, outcome_of(err), latency);
    s.routing.record(p, classify(err), latency, now(self));
    sync_circuit(self, s);
    return;
  }
  auto text = describe(err);
  log().debug("backend {}: {} failed: {}", s.name, to_string(op), text);
  s.last_error = std::string{to_string(op)} + ": " + text;
  metrics(self).backend_call(op, s.name, outcome_of(err), latency);
  s.routing.record(p, classify(err), latency, now(self));
  sync_circuit(self, s, s.last_error);
}

caf::duration call_bound(coordinator_pointer self, const backend_actor& h) {
  if (!h || h->node() == self->node()) return caf::infinite;
  return caf::duration{2 * self->state.cfg.request_timeout};
}

caf::error missed_deadline(duration timeout) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  return caf::error{errc::timeout, "no reply within " + std::to_string(ms) + " ms"};
}

} // namespace detail

namespace {

using namespace detail;

// -- attempt deadlines ------------------------------------------------------------

/// Makes sure a deadline_atom arrives by the earliest pending deadline.
void schedule_tick(coordinator_pointer self) {
  auto& st = self->state;
  auto next = st.deadlines.next();
  if (!next || *next >= st.next_tick) return;
  st.next_tick = *next;
  self->delayed_send(self, std::max(*next - now(self), duration::zero()), deadline_atom::value);
}

} // namespace

uint64_t detail::arm(coordinator_pointer self, duration timeout,
                     deadline_queue::callback on_expire) {
  auto id = self->state.deadlines.arm(now(self) + timeout, std::move(on_expire));
  schedule_tick(self);
  return id;
}

namespace {

/// Hands a request to the write leader's coordinator, which replies to the
/// sender directly (over the nodes' network); no_leader while none is known.
template <class R, class... Ts>
caf::result<R> to_leader(coordinator_pointer self, Ts&&... xs) {
  auto& st = self->state;
  if (!st.leader_coordinator) return no_leader(self);
  return self->delegate(st.leader_coordinator, std::forward<Ts>(xs)...);
}

void on_tick(coordinator_pointer self) {
  auto& st = self->state;
  auto t = now(self);
  if (t >= st.next_tick) st.next_tick = time_point::max(); // else: an older, stale tick
  for (auto& expire : st.deadlines.expire(t)) expire();
  schedule_tick(self);
}

coordinator_actor::behavior_type coordinator(coordinator_pointer self, coordinator_config cfg) {
  auto& st = self->state;
  if (!cfg.metrics) cfg.metrics = std::make_shared<null_metrics>();
  if (!cfg.hedges)
    cfg.hedges = std::make_shared<hedge_budget>(cfg.hedge_budget_percent, cfg.hedge_burst);
  // Direct reads spend hedges from the same budget.
  if (cfg.routes) cfg.routes->budget = cfg.hedges;
  st.rng.seed(cfg.seed != 0 ? cfg.seed : std::random_device{}());
  if (cfg.backends.size() > 64) throw std::invalid_argument("at most 64 backends");
  for (auto& name : cfg.backends)
    st.slots.push_back(make_slot(name, cfg));
  st.cfg = std::move(cfg);
  st.cfg.metrics->known_backends(st.cfg.backends);
  st.hedges = st.cfg.hedges;
  st.inherited_until = now(self) + st.cfg.inherited_leases;
  for (uint32_t i = 0; i < st.slots.size(); ++i) schedule_probe(self, i);
  if (st.cfg.follower) start_follower(self);
  else start_replication(self);
  schedule_purge(self);
  schedule_repair(self, true);
  on_routes_tick(self);
  return {
    // A cluster follower hands writes, and the reads it cannot serve, to
    // the write leader (coordinator_follower.cpp).
    [self](create_atom a, collection_spec& spec) -> caf::result<write_receipt> {
      if (self->state.cfg.follower) return to_leader<write_receipt>(self, a, std::move(spec));
      return create_collection(self, spec);
    },
    [self](drop_atom a, std::string& name) -> caf::result<write_receipt> {
      if (self->state.cfg.follower) return to_leader<write_receipt>(self, a, std::move(name));
      return drop_collection(self, name);
    },
    [self](upsert_atom a, std::string& c,
           std::vector<document>& docs) -> caf::result<write_receipt> {
      if (self->state.cfg.follower) return to_leader<write_receipt>(self, a, std::move(c), std::move(docs));
      return upsert_documents(self, c, docs);
    },
    [self](remove_atom a, std::string& c, std::string& id) -> caf::result<write_receipt> {
      if (self->state.cfg.follower) return to_leader<write_receipt>(self, a, std::move(c), std::move(id));
      return remove_document(self, c, id);
    },
    [self](list_atom a) -> caf::result<served<std::vector<collection_spec>>> {
      if (read_goes_to_leader(self, operation::list_collections))
        return to_leader<served<std::vector<collection_spec>>>(self, a);
      return list_collections(self);
    },
    [self](stats_atom a, std::string& name) -> caf::result<served<collection_stats>> {
      if (read_goes_to_leader(self, operation::collection_stats))
        return to_leader<served<collection_stats>>(self, a, std::move(name));
      return stats_of(self, name);
    },
    [self](get_atom a, std::string& c, std::string& id) -> caf::result<served<document>> {
      if (read_goes_to_leader(self, operation::get))
        return to_leader<served<document>>(self, a, std::move(c), std::move(id));
      return get_document(self, c, id);
    },
    [self](search_atom a, search_query& q) -> caf::result<served<std::vector<search_hit>>> {
      if (read_goes_to_leader(self, operation::search))
        return to_leader<served<std::vector<search_hit>>>(self, a, std::move(q));
      return search_documents(self, q);
    },
    [self](get_atom a, std::string& c, std::string& id,
           read_escalation& from) -> caf::result<served<document>> {
      // It failed or was slow here: another backend here, else the leader.
      if (read_goes_to_leader(self, operation::get, from.tried))
        return to_leader<served<document>>(self, a, std::move(c), std::move(id));
      return get_handed_over(self, c, id, from);
    },
    [self](search_atom a, search_query& q,
           read_escalation& from) -> caf::result<served<std::vector<search_hit>>> {
      if (read_goes_to_leader(self, operation::search, from.tried))
        return to_leader<served<std::vector<search_hit>>>(self, a, std::move(q));
      return search_handed_over(self, q, from);
    },
    [self](leader_atom, std::string& name, caf::actor& coordinator) {
      auto& st = self->state;
      auto handle = caf::actor_cast<coordinator_actor>(std::move(coordinator));
      bool changed = name != st.leader || handle != st.leader_coordinator;
      st.leader = std::move(name);
      st.leader_coordinator = std::move(handle);
      if (changed) leader_changed(self);
    },
    [self](lease_atom, std::string& node) { return grant_lease(self, node); },
    [self](lease_atom, std::vector<std::string>& names) { return revoke_lease(self, names); },
    [self](lease_atom, bool expiry) { on_lease_timer(self, expiry); },
    [self](routes_atom) { on_routes_tick(self); },
    [self](health_atom) { return health(self); },
    [self](ready_atom) -> caf::result<health_report> {
      if (all_reported(self)) return health(self);
      auto rp = self->make_response_promise<health_report>();
      self->state.awaiting_ready.push_back(rp);
      return rp;
    },
    // Checks compare every replica: on a follower, the leader runs them.
    [self](check_atom a) -> caf::result<consistency_report> {
      if (self->state.cfg.follower) return to_leader<consistency_report>(self, a);
      return start_check(self);
    },
    [self](check_atom a, bool repair) -> caf::result<uint64_t> {
      if (self->state.cfg.follower) return to_leader<uint64_t>(self, a, repair);
      return start_check_job(self, repair, false);
    },
    [self](status_atom a, uint64_t id) -> caf::result<check_status> {
      if (self->state.cfg.follower) return to_leader<check_status>(self, a, id);
      return check_status_of(self, id);
    },
    [self](ready_atom a, uint64_t id) -> caf::result<check_status> {
      if (self->state.cfg.follower) return to_leader<check_status>(self, a, id);
      return await_check(self, id);
    },
    [self](check_atom, uint64_t ticket, check_progress& p) { on_check_progress(self, ticket, p); },
    [self](repair_atom) { on_repair_tick(self); },
    [self](restart_atom, const std::string& name) { return restart_backend(self, name); },
    [self](hold_atom, const std::string& name, bool hold) {
      return hold_backend(self, name, hold);
    },
    [self](lifecycle_atom, lifecycle_event& ev) {
      on_lifecycle(self, ev);
      // On a first start, recovery waits for every backend to report.
      for (size_t j = 0; j < self->state.slots.size(); ++j) maybe_recover(self, j);
      deliver_ready(self);
    },
    [self](progress_atom, uint32_t i, uint64_t job, uint64_t copied, uint64_t pending,
           uint64_t replayed, uint64_t total) {
      on_progress(self, i, job, copied, pending, replayed, total);
    },
    [self](recovered_atom, uint32_t i, uint64_t job, uint64_t drained, caf::error& err) {
      on_recovered(self, i, job, drained, err);
    },
    [self](check_atom, uint64_t ticket, consistency_report& report) {
      on_check_done(self, ticket, report);
    },
    [self](purge_atom) { on_purge(self); },
    [self](deadline_atom) { on_tick(self); },
    [self](ceiling_atom) { on_ceiling_tick(self); },
    [self](probe_atom, uint32_t i) {
      if (i >= self->state.slots.size()) return;
      run_probe(self, i);
      schedule_probe(self, i);
      maybe_recover(self, i); // retries a recovery that stopped
    },
  };
}

} // namespace

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_config cfg) {
  return sys.spawn(coordinator, std::move(cfg));
}

} // namespace lifeline
