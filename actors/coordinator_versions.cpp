// The coordinator's write versions. The version ceiling is stored by the
// durable_state actor (its fsync stays off CAF's shared scheduler); the
// coordinator hands out versions only below the ceiling on disk, asks for
// the next one when less than half a lease is left (and on a timer while
// idle), and only if it must, queues writes until it is stored, each within
// its deadline. See replication/version_clock.hpp.
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

void fail_waiting_writes(coordinator_pointer self, const caf::error& err) {
  // A write whose deadline passed has left the queue already.
  auto waiting = std::move(self->state.waiting_writes);
  self->state.waiting_writes.clear();
  for (auto& w : waiting) {
    self->state.deadlines.disarm(w->ticket);
    w->resume(err);
  }
}

/// Hands versions to the writes that wait, in order, as far as the stored
/// ceiling allows.
void resume_waiting_writes(coordinator_pointer self) {
  auto& st = self->state;
  while (!st.waiting_writes.empty()) {
    auto v = st.versions.next();
    if (!v) break;
    auto w = std::move(st.waiting_writes.front());
    st.waiting_writes.pop_front();
    st.deadlines.disarm(w->ticket);
    w->resume(*v);
  }
}

void request_ceiling(coordinator_pointer self);

void on_ceiling_stored(coordinator_pointer self, uint64_t asked, uint64_t ceiling) {
  auto& st = self->state;
  st.ceiling_requested = false;
  if (ceiling > asked) {
    // Someone else stored a higher one (a cluster's previous write leader):
    // its versions may reach it, so ours start above it.
    st.versions.start_above(ceiling);
    return request_ceiling(self);
  }
  st.versions.ceiling_stored(ceiling);
  resume_waiting_writes(self);
  if (!st.waiting_writes.empty() || st.versions.wants_ceiling()) request_ceiling(self);
}

/// Asks the durable_state actor to store the next ceiling (one at a time).
void request_ceiling(coordinator_pointer self) {
  auto& st = self->state;
  if (st.ceiling_requested || !st.ceiling_loaded || !st.versions_error.empty()) return;
  st.ceiling_requested = true;
  auto asked = st.versions.ceiling_to_store();
  self->request(st.durable, st.cfg.recovery_call_timeout, ceiling_atom::value, asked)
    .then([self, asked](uint64_t ceiling) { on_ceiling_stored(self, asked, ceiling); },
          [self](caf::error& err) {
            self->state.ceiling_requested = false;
            auto why = describe(err);
            log().error("{}", why);
            // As before: each write that needs a ceiling tries again.
            fail_waiting_writes(self, caf::error{errc::not_durable, why});
          });
}

} // namespace

void start_versions(coordinator_pointer self) {
  auto& st = self->state;
  // No version is handed out until the stored ceiling is read and a higher
  // one is stored; writes meanwhile wait (within their deadline).
  st.versions = version_lease{system_micros, st.cfg.version_lease, 0};
  self->request(st.durable, st.cfg.recovery_call_timeout, ceiling_atom::value)
    .then(
      [self](uint64_t stored) {
        auto& st = self->state;
        st.versions.start_above(stored);
        st.ceiling_loaded = true;
        request_ceiling(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.versions_error = describe(err);
        log().error("{}", st.versions_error);
        fail_waiting_writes(self, caf::error{errc::not_durable, st.versions_error});
      });
  // Keeps the ceiling ahead of the wall clock while idle, so that the first
  // write after a pause does not wait for a sync.
  self->delayed_send(self, std::chrono::milliseconds{st.cfg.version_lease} / 4, ceiling_atom::value);
}

void on_ceiling_tick(coordinator_pointer self) {
  auto& st = self->state;
  self->delayed_send(self, std::chrono::milliseconds{st.cfg.version_lease} / 4, ceiling_atom::value);
  if (st.versions.wants_ceiling()) request_ceiling(self);
}

void with_version(coordinator_pointer self, duration timeout,
                  std::function<void(caf::expected<uint64_t>)> then) {
  auto& st = self->state;
  if (!st.versions_error.empty()) return then(caf::error{errc::not_durable, st.versions_error});
  if (st.waiting_writes.empty()) {
    auto v = st.versions.next();
    if (st.versions.wants_ceiling()) request_ceiling(self);
    if (v) return then(*v);
  }
  // Wait (in order) for the next ceiling, at most `timeout`.
  auto w = std::make_shared<waiting_write>();
  w->resume = std::move(then);
  std::weak_ptr<waiting_write> weak = w;
  w->ticket = arm(self, timeout, [self, weak, timeout] {
    auto w = weak.lock();
    if (!w) return;
    auto& q = self->state.waiting_writes;
    q.erase(std::remove(q.begin(), q.end(), w), q.end());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    w->resume(caf::error{errc::timeout, "no version within " + std::to_string(ms)
                                          + " ms: the version ceiling is not stored yet"});
  });
  st.waiting_writes.push_back(std::move(w));
  request_ceiling(self);
}

} // namespace lifeline::detail
