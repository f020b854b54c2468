// The coordinator's view of backend health and lifecycle: active probes,
// the lifecycle events supervisors report, the health report (and the
// ready_atom replies that wait for start-up to settle), and the operator's
// restart / stop / start of a backend. Split from coordinator.cpp, which
// keeps the handler list and the circuit bookkeeping these feed.
#include "actors/coordinator_state.hpp"
#include "backends/backend.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

duration jittered(coordinator_pointer self, duration base) {
  auto j = std::clamp(self->state.cfg.probe_jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> dist{1.0 - j, 1.0 + j};
  return duration{static_cast<duration::rep>(double(base.count()) * dist(self->state.rng))};
}

} // namespace

void schedule_probe(coordinator_pointer self, uint32_t i) {
  self->delayed_send(self, jittered(self, self->state.cfg.probe_interval), probe_atom::value, i);
}

void run_probe(coordinator_pointer self, uint32_t i) {
  auto& s = self->state.slots[i];
  if (!s.routing.start_probe()) return;
  auto t = now(self);
  self->request(s.routing.handle(), self->state.cfg.probe_timeout, probe_atom::value)
    .then(
      [self, i, t](ok_atom) {
        auto& s = self->state.slots[i];
        s.routing.probe_done();
        metrics(self).backend_call(operation::probe, s.name, call_outcome::success, now(self) - t);
        s.routing.record_probe(call_result::success, now(self));
        sync_circuit(self, s, "probe succeeded");
        observe_database(self, i);
      },
      [self, i, t](caf::error& err) {
        auto& s = self->state.slots[i];
        s.routing.probe_done();
        metrics(self).backend_call(operation::probe, s.name, outcome_of(err), now(self) - t);
        s.last_error = "probe: " + describe(err);
        s.routing.record_probe(classify(err), now(self));
        sync_circuit(self, s, s.last_error);
        observe_database(self, i);
      });
}

void on_lifecycle(coordinator_pointer self, lifecycle_event& ev) {
  auto& st = self->state;
  auto it = std::find_if(st.slots.begin(), st.slots.end(),
                         [&](const slot& s) { return s.name == ev.backend; });
  if (it == st.slots.end()) {
    if (st.slots.size() >= 64) {
      log().error("backend {}: ignored: at most 64 backends", ev.backend);
      return;
    }
    // Not in the configured order: serve it last.
    st.slots.push_back(make_slot(ev.backend, st.cfg));
    std::vector<std::string> names;
    for (auto& sl : st.slots) names.push_back(sl.name);
    metrics(self).known_backends(names);
    schedule_probe(self, static_cast<uint32_t>(st.slots.size() - 1));
    if (st.handoff()) attach_hints(self, st.slots.size() - 1);
    std::erase(st.left_out, ev.backend);
    it = st.slots.end() - 1;
  }
  auto& s = *it;
  auto index = static_cast<size_t>(it - st.slots.begin());
  if (auto sender = self->current_sender())
    s.routing.set_supervisor(caf::actor_cast<supervisor_actor>(sender));
  s.kind = ev.kind;
  s.restarts = ev.restarts;
  if (ev.state != s.routing.lifecycle()) s.since_unix_ms = unix_ms();
  if (ev.state == lifecycle_state::up) {
    s.last_error.clear();
    // A fresh backend actor starts with a clean record.
    s.routing.came_up(ev.handle, capabilities::from_bits(ev.capabilities),
                      capabilities::from_bits(ev.preferred));
    s.store = ev.store;
    sync_circuit(self, s, "backend (re)started");
    on_backend_up(self, index);
  } else {
    s.routing.left_up(ev.state);
    s.store = nullptr;
    if (!ev.reason.empty()) s.last_error = ev.reason;
  }
  publish_routes(self);
}

/// Every backend has reported its first lifecycle state and, if it is up,
/// has caught up (or started a rebuild, which may take long).
bool all_reported(coordinator_pointer self) {
  auto& slots = self->state.slots;
  return std::none_of(slots.begin(), slots.end(), [](const slot& s) {
    auto lifecycle = s.routing.lifecycle();
    return lifecycle == lifecycle_state::starting
           || (lifecycle == lifecycle_state::up && !s.replica.settled);
  });
}

/// Reads the view as of a refresh at the start: `serving` is exactly what
/// routing asks of a backend before it sends it a read (a backend at its
/// in-flight bound still counts: that is load, not health).
health_report health(coordinator_pointer self) {
  refresh(self);
  health_report report;
  for (auto& s : self->state.slots) {
    backend_health h;
    h.name = s.name;
    h.kind = s.kind;
    h.lifecycle = s.routing.lifecycle();
    h.circuit = s.routing.circuit();
    h.last_error = s.last_error;
    h.since_unix_ms = s.since_unix_ms;
    h.restarts = s.restarts;
    h.replica = s.replica.state;
    h.pending = s.replica.pending;
    h.rebuilt = s.replica.rebuilt;
    auto p = progress_of(self, s);
    h.progress_done = p.done;
    h.progress_total = p.total;
    h.progress_rate = p.rate;
    h.progress_eta_s = p.eta_s;
    h.serving = s.serves_reads(operation::get);
    // Live from the store while it is up (cheap, never blocks); else as of
    // the last probe.
    h.has_database = s.store ? s.store->database(h.database) : s.has_database;
    if (!s.store) h.database = s.database;
    report.backends.push_back(std::move(h));
  }
  return report;
}

caf::result<ok_atom> restart_backend(coordinator_pointer self, const std::string& name) {
  for (auto& s : self->state.slots) {
    if (s.name != name) continue;
    if (!s.routing.handle())
      return caf::error{errc::backend_unavailable, "backend " + name + " is not up"};
    log().warn("backend {}: restart requested by an operator", name);
    // Its supervisor sees it go down and starts it again. Not
    // exit_reason::kill: a kill skips the backend actor's exit handler,
    // which fails its pending calls at once (backend_unavailable) so that
    // their callers fall over instead of waiting out their deadlines.
    self->send_exit(s.routing.handle(),
                    caf::error{errc::backend_unavailable, "restart requested by an operator"});
    return ok_atom::value;
  }
  return caf::error{errc::not_found, "no backend named '" + name + "'"};
}

/// Operator: stop a backend and keep it down (hold), or start it again.
caf::result<ok_atom> hold_backend(coordinator_pointer self, const std::string& name, bool hold) {
  for (auto& s : self->state.slots) {
    if (s.name != name) continue;
    if (!s.routing.supervisor())
      return caf::error{errc::backend_unavailable,
                        "backend " + name + " has no supervisor that reported yet"};
    log().warn("backend {}: {} requested by an operator", name, hold ? "stop" : "start");
    // Held from now on: no request is routed to it while its supervisor
    // stops it. The supervisor replies once it has acted; it reports the
    // transition (stopped, or up) to us as always.
    s.routing.hold(hold);
    publish_routes(self);
    return self->delegate(s.routing.supervisor(), hold_atom::value, hold);
  }
  return caf::error{errc::not_found, "no backend named '" + name + "'"};
}

void deliver_ready(coordinator_pointer self) {
  if (self->state.awaiting_ready.empty() || !all_reported(self)) return;
  auto report = health(self);
  for (auto& rp : self->state.awaiting_ready) rp.deliver(report);
  self->state.awaiting_ready.clear();
}

} // namespace lifeline::detail
