#include "actors/supervisor.hpp"

#include "backends/backend.hpp"
#include "core/log.hpp"
#include "metrics/metrics.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <random>

namespace lifeline {

namespace {

struct supervisor_state {
  supervisor_config cfg;
  coordinator_actor coordinator;
  restart_policy policy;
  backend_actor current;       ///< The running backend actor, if any.
  backend_actor candidate;     ///< A failed backend's fresh instance being probed.
  std::shared_ptr<backend> current_store;   ///< current's store (direct reads).
  std::shared_ptr<backend> candidate_store; ///< candidate's store.
  lifecycle_event status;      ///< As last reported.
  /// Other nodes' links to this replica (watch_atom), sent every event too.
  std::vector<caf::actor> watchers;
  bool stopping = false;
  /// Held down by an operator: stopped, and nothing starts it (no restart,
  /// no probe) until it is released.
  bool held = false;
  /// Generation of the restart timer: only the latest one acts (holding and
  /// releasing make any pending one stale).
  uint64_t timer = 0;
  static inline const char* name = "lifeline.supervisor";
};

using supervisor_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

/// Another node sees only what crosses the wire: no store for direct reads.
void tell_watchers(supervisor_pointer self) {
  auto& st = self->state;
  if (st.watchers.empty()) return;
  auto ev = st.status;
  ev.store = nullptr;
  for (auto& w : st.watchers) caf::anon_send(w, lifecycle_atom::value, ev);
}

void report(supervisor_pointer self, lifecycle_state state, std::string reason) {
  auto& st = self->state;
  auto previous = st.status.state;
  st.status.state = state;
  st.status.reason = std::move(reason);
  st.status.handle = state == lifecycle_state::up ? st.current : backend_actor{};
  st.status.store = state == lifecycle_state::up ? st.current_store : nullptr;
  // One line per transition; a restart is a transition even when the last
  // state was `restarting` too.
  if (previous != state || state == lifecycle_state::restarting) {
    auto level = state == lifecycle_state::up || state == lifecycle_state::stopped
                   ? spdlog::level::info
                   : spdlog::level::warn;
    log().log(level, "backend {}: {} -> {}{}{}", st.cfg.name, to_string(previous),
              to_string(state), st.status.reason.empty() ? "" : ": ", st.status.reason);
  }
  st.cfg.metrics->lifecycle(st.cfg.name, state);
  if (st.coordinator) self->send(st.coordinator, lifecycle_atom::value, st.status);
  tell_watchers(self);
}

/// A backend instance and its actor.
struct made_backend {
  backend_actor actor;
  std::shared_ptr<backend> store;
};

/// Builds a backend instance and its actor; an error if the factory fails.
expected<made_backend> make_backend(supervisor_pointer self) {
  auto& st = self->state;
  try {
    auto store = st.cfg.factory();
    if (!store) return store.error();
    st.status.kind = (*store)->kind();
    st.status.capabilities = (*store)->capabilities().bits();
    st.status.preferred = (*store)->preferred().bits();
    std::shared_ptr<backend> made = std::move(*store);
    return made_backend{spawn_backend_actor(self->system(), made, st.cfg.actor), made};
  } catch (const std::exception& e) {
    return make_backend_error(errc::backend_error, std::string{"backend factory threw: "} + e.what());
  }
}

void schedule_restart(supervisor_pointer self, std::string reason);

/// (Re)starts the backend after `delay`, unless a newer timer, a hold or a
/// release comes first.
void arm_timer(supervisor_pointer self, std::chrono::steady_clock::duration delay) {
  self->delayed_send(self, delay, restart_atom::value, ++self->state.timer);
}

/// Start (or restart) the backend and watch it.
void start(supervisor_pointer self) {
  auto& st = self->state;
  auto made = make_backend(self);
  if (!made) {
    schedule_restart(self, made.error().message);
    return;
  }
  st.current = made->actor;
  st.current_store = made->store;
  self->monitor(st.current);
  report(self, lifecycle_state::up, {});
}

/// After a crash: restart after a backoff, or give up and probe slowly.
void schedule_restart(supervisor_pointer self, std::string reason) {
  auto& st = self->state;
  auto decision = st.policy.on_crash(self->clock().now());
  if (decision.give_up) {
    report(self, lifecycle_state::failed,
           reason + " (gave up after " + std::to_string(st.policy.config().max_restarts)
             + " restarts; probing every "
             + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                st.policy.config().failed_probe_interval)
                                .count())
             + "s)");
    arm_timer(self, st.policy.config().failed_probe_interval);
    return;
  }
  report(self, lifecycle_state::restarting,
         reason + " (restart " + std::to_string(decision.attempt) + " in "
           + std::to_string(
             std::chrono::duration_cast<std::chrono::milliseconds>(decision.delay).count())
           + "ms)");
  arm_timer(self, decision.delay);
}

/// A failed backend is only put back in rotation once a probe succeeds.
void probe_failed_backend(supervisor_pointer self) {
  auto& st = self->state;
  auto made = make_backend(self);
  if (!made) {
    report(self, lifecycle_state::failed, made.error().message);
    arm_timer(self, st.policy.config().failed_probe_interval);
    return;
  }
  auto candidate = made->actor;
  st.candidate = candidate;
  st.candidate_store = made->store;
  self->request(candidate, st.cfg.probe_timeout, probe_atom::value)
    .then(
      [self, candidate](ok_atom) {
        auto& st = self->state;
        if (st.candidate != candidate) { // held, released or stopping since
          self->send_exit(candidate, caf::exit_reason::user_shutdown);
          return;
        }
        st.candidate = backend_actor{};
        st.policy.reset();
        st.current = candidate;
        st.current_store = std::move(st.candidate_store);
        self->monitor(st.current);
        ++st.status.restarts;
        st.cfg.metrics->restart(st.cfg.name);
        report(self, lifecycle_state::up, {});
      },
      [self, candidate](caf::error& err) {
        auto& st = self->state;
        self->send_exit(candidate, caf::exit_reason::user_shutdown);
        if (st.candidate != candidate) return; // held, released or stopping since
        st.candidate = backend_actor{};
        log().debug("backend {}: still failed: probe: {}", st.cfg.name, describe(err));
        // The coordinator shows the latest reason; the log got its line
        // when the backend became failed.
        report(self, lifecycle_state::failed, "probe failed: " + describe(err));
        arm_timer(self, st.policy.config().failed_probe_interval);
      });
}

/// Operator: stop the backend actor and keep it down until release().
void hold(supervisor_pointer self) {
  auto& st = self->state;
  if (st.stopping || st.held) return;
  st.held = true;
  ++st.timer; // a pending restart or probe timer does nothing now
  if (st.candidate) { // a probe in flight: its reply is ignored
    self->send_exit(st.candidate, caf::exit_reason::user_shutdown);
    st.candidate = backend_actor{};
  }
  auto stopped = std::move(st.current);
  st.current = backend_actor{};
  st.current_store = nullptr;
  // The coordinator hears of it first, then the actor goes. Not a crash:
  // no down message, so no restart.
  report(self, lifecycle_state::stopped, "stopped by an operator");
  if (stopped) {
    self->demonitor(stopped.address());
    self->send_exit(stopped, caf::exit_reason::user_shutdown);
  }
}

/// Operator: start a held backend again (a fresh actor from the factory),
/// or one that is restarting or failed at once. A clean slate: the restart
/// policy forgets earlier crashes. Nothing to do if it is up.
void release(supervisor_pointer self) {
  auto& st = self->state;
  if (st.stopping) return;
  if (!st.held && st.current) return; // up already
  st.held = false;
  ++st.timer; // cancels a pending restart or slow probe
  if (st.candidate) {
    self->send_exit(st.candidate, caf::exit_reason::user_shutdown);
    st.candidate = backend_actor{};
  }
  st.policy.reset();
  log().info("backend {}: started by an operator", st.cfg.name);
  start(self);
}

supervisor_actor::behavior_type supervisor(supervisor_pointer self, supervisor_config cfg,
                                           coordinator_actor coordinator) {
  auto& st = self->state;
  if (!cfg.metrics) cfg.metrics = std::make_shared<null_metrics>();
  auto seed = cfg.seed != 0 ? cfg.seed : std::random_device{}();
  st.policy = restart_policy{cfg.restart, seed};
  st.status.backend = cfg.name;
  st.cfg = std::move(cfg);
  st.coordinator = std::move(coordinator);
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    std::erase_if(st.watchers, [&](const caf::actor& w) { return w.address() == msg.source; });
    if (!st.current || msg.source != st.current.address()) return; // stale
    st.current = backend_actor{};
    st.current_store = nullptr;
    if (st.stopping || st.held) return;
    schedule_restart(self, "backend actor died: " + describe(msg.reason));
  });
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    auto& st = self->state;
    st.stopping = true;
    if (st.current) self->send_exit(st.current, msg.reason);
    if (st.candidate) self->send_exit(st.candidate, msg.reason); // a probe in flight
    st.current = backend_actor{};
    st.candidate = backend_actor{};
    st.current_store = st.candidate_store = nullptr;
    report(self, lifecycle_state::stopped, {});
    self->quit(msg.reason);
  });
  report(self, lifecycle_state::starting, {});
  start(self);
  return {
    [self](restart_atom, uint64_t timer) {
      auto& st = self->state;
      if (timer != st.timer || st.stopping || st.held || st.current) return;
      if (st.status.state == lifecycle_state::failed) {
        probe_failed_backend(self);
        return;
      }
      ++st.status.restarts;
      st.cfg.metrics->restart(st.cfg.name);
      start(self);
    },
    [self](hold_atom, bool on) {
      if (on)
        hold(self);
      else
        release(self);
      return ok_atom::value;
    },
    [self](status_atom) { return self->state.status; },
    [self](watch_atom, caf::actor& watcher) {
      auto& st = self->state;
      if (!watcher || std::count(st.watchers.begin(), st.watchers.end(), watcher)) return;
      self->monitor(watcher);
      st.watchers.push_back(std::move(watcher));
      auto ev = st.status;
      ev.store = nullptr;
      caf::anon_send(st.watchers.back(), lifecycle_atom::value, std::move(ev));
    },
    [self](lifecycle_atom) {
      auto& st = self->state;
      if (st.coordinator) self->send(st.coordinator, lifecycle_atom::value, st.status);
    },
  };
}

} // namespace

supervisor_actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg,
                                  coordinator_actor coordinator) {
  return sys.spawn(supervisor, std::move(cfg), std::move(coordinator));
}

} // namespace lifeline
