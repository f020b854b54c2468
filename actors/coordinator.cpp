#include "actors/coordinator.hpp"

#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

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
}

void refresh(coordinator_pointer self) {
  auto t = now(self);
  for (auto& s : self->state.slots) {
    s.routing.refresh(t);
    sync_circuit(self, s);
  }
}

} // namespace detail

namespace {

using namespace detail;

slot make_slot(std::string name, const coordinator_config& cfg) {
  auto bound = cfg.max_in_flight_of.find(name);
  auto max_calls = bound != cfg.max_in_flight_of.end() ? bound->second : cfg.backend_max_in_flight;
  return slot{std::move(name), cfg.circuit, max_calls};
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

void on_tick(coordinator_pointer self) {
  auto& st = self->state;
  auto t = now(self);
  if (t >= st.next_tick) st.next_tick = time_point::max(); // else: an older, stale tick
  for (auto& expire : st.deadlines.expire(t)) expire();
  schedule_tick(self);
}

caf::error missed_deadline(duration timeout) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  return caf::error{errc::timeout, "no reply within " + std::to_string(ms) + " ms"};
}

// -- reads: priority order with fallback ----------------------------------------

template <class T, class Send>
struct read_job {
  operation op;
  caf::typed_response_promise<served<T>> rp;
  time_point deadline;
  Send send;
  uint64_t tried = 0; ///< Bit i: slot i was tried.
  int last_failed = -1;
  caf::error damaged; ///< A backend's copy was damaged (corrupt_document).
};

template <class T, class Send>
void try_read(coordinator_pointer self, std::shared_ptr<read_job<T, Send>> job) {
  auto& st = self->state;
  auto t = now(self);
  refresh(self);
  int pick = -1;
  bool more = false; // another candidate left after `pick`
  bool saturated = false; // one was skipped for being at its bound
  // Backends that prefer this operation first, then the configured order.
  for (bool preferred_pass : {true, false}) {
    for (size_t i = 0; i < st.slots.size() && !more; ++i) {
      auto& s = st.slots[i];
      if (s.routing.preferred().has(job->op) != preferred_pass) continue;
      if ((job->tried >> i) & 1u) continue;
      if (!s.serves_reads(job->op)) continue;
      if (s.saturated()) {
        // Full: the request goes to the next backend, or is shed below;
        // it never queues behind the bound.
        metrics(self).shed(job->op, s.name);
        saturated = true;
        continue;
      }
      if (pick < 0) pick = static_cast<int>(i);
      else more = true;
    }
  }
  auto finish = [&](caf::error err) {
    metrics(self).in_flight(job->op, -1);
    job->rp.deliver(std::move(err));
  };
  if (pick < 0) return finish(saturated ? overloaded(self, job->op) : outage(self, job->op));
  auto remaining = job->deadline - t;
  if (remaining <= duration::zero()) {
    auto after = job->last_failed >= 0 ? " after " + st.slots[job->last_failed].last_error : "";
    return finish(caf::error{errc::timeout, "request deadline passed" + after});
  }
  auto& s = st.slots[pick];
  auto timeout = more ? std::min(st.cfg.attempt_timeout, remaining) : remaining;
  auto p = s.routing.admit(t);
  sync_circuit(self, s);
  job->tried |= uint64_t{1} << pick;
  if (job->last_failed >= 0) {
    auto& from = st.slots[job->last_failed].name;
    metrics(self).fallback(job->op, from, s.name);
    log().debug("{}: falling back from {} to {}", to_string(job->op), from, s.name);
  }
  auto i = static_cast<size_t>(pick);
  auto ticket = arm(self, timeout, [self, job, i, p, t, timeout] {
    record(self, i, job->op, p, missed_deadline(timeout), now(self) - t);
    job->last_failed = static_cast<int>(i);
    try_read(self, job);
  });
  s.routing.call_sent();
  job->send(self, s.routing.handle())
    .then(
      [self, job, i, p, t, ticket](T& value) {
        self->state.slots[i].routing.call_answered();
        if (!self->state.deadlines.disarm(ticket)) return; // too late: already failed over
        record(self, i, job->op, p, {}, now(self) - t);
        served_ok(self);
        metrics(self).in_flight(job->op, -1);
        job->rp.deliver(served<T>{self->state.slots[i].name, std::move(value)});
      },
      [self, job, i, p, t, ticket](caf::error& err) {
        self->state.slots[i].routing.call_answered();
        if (!self->state.deadlines.disarm(ticket)) return;
        record(self, i, job->op, p, err, now(self) - t);
        if (is_client_error(err)) {
          // An answer (e.g. not_found), not a failure: no fallback. But a
          // document another backend holds, damaged, is not "not found".
          served_ok(self);
          metrics(self).in_flight(job->op, -1);
          if (job->damaged && is(err, errc::not_found)) err = job->damaged;
          job->rp.deliver(std::move(err));
          return;
        }
        if (is(err, errc::corrupt_document)) {
          // This backend's copy of the document is damaged; another backend
          // may hold a good one, so try it. If none is left, the caller gets
          // this error, which names the document: not an outage (every
          // backend is fine), and retrying will not help.
          auto& slots = self->state.slots;
          refresh(self);
          bool other = false;
          for (size_t j = 0; j < slots.size() && !other; ++j)
            other = !((job->tried >> j) & 1u) && slots[j].serves_reads(job->op);
          if (!other) {
            served_ok(self);
            metrics(self).in_flight(job->op, -1);
            job->rp.deliver(std::move(err));
            return;
          }
          job->damaged = err;
        }
        job->last_failed = static_cast<int>(i);
        try_read(self, job);
      });
}

template <class T, class Send>
caf::result<served<T>> read(coordinator_pointer self, operation op, Send send) {
  auto job = std::make_shared<read_job<T, Send>>(read_job<T, Send>{
    op, self->template make_response_promise<served<T>>(),
    now(self) + self->state.cfg.request_timeout, std::move(send)});
  metrics(self).in_flight(op, +1);
  try_read(self, job);
  return job->rp;
}

// -- writes: fan out to every healthy capable backend ---------------------------
//
// A write goes to every backend that can take it now. Once every one has
// answered (or missed its deadline), and if at least one applied it, every
// backend that did not (down, circuit open, behind, failed, timed out, or
// refused what another applied) gets it in its handoff log. The receipt is
// delivered only once those entries are on disk; if one cannot be written,
// the write is not acknowledged (not_durable) and that backend will be
// rebuilt. A write applied nowhere is kept nowhere: an outage or the client
// error, as without handoff.

struct write_job {
  operation op;
  caf::typed_response_promise<write_receipt> rp;
  write_receipt receipt;
  std::vector<size_t> slot_of; ///< receipt entry -> slot index
  handoff_entry entry;         ///< What a backend that missed it gets.
  size_t pending = 0;          ///< Sends, then handoff appends, not yet answered.
  caf::error client_error;
  std::string not_durable;     ///< Why a missed write could not be kept.
  std::vector<uint64_t> tickets; ///< Deadline per receipt entry (0: not sent).
  std::vector<permit> permits;   ///< The circuit's permit per receipt entry.
  std::vector<bool> hurried;     ///< Per receipt entry: its deadline was shortened.
  /// What is left of the request deadline when the sends go out (less than
  /// request_timeout if the write waited for its version).
  duration budget{};
};

void finish_write(coordinator_pointer self, write_job& job) {
  auto& st = self->state;
  metrics(self).in_flight(job.op, -1);
  if (job.receipt.version != 0)
    st.writes_in_flight.erase(st.writes_in_flight.find(job.receipt.version));
  if (!job.not_durable.empty()) {
    job.rp.deliver(caf::error{errc::not_durable, "write not acknowledged: " + job.not_durable});
  } else if (job.receipt.applied() > 0) {
    served_ok(self);
    job.rp.deliver(std::move(job.receipt));
  } else if (job.client_error) {
    served_ok(self);
    job.rp.deliver(std::move(job.client_error));
  } else {
    job.rp.deliver(outage(self, job.op));
  }
}

/// Every send has answered: keep the write for each backend that lacks it.
void keep_missed(coordinator_pointer self, std::shared_ptr<write_job> job) {
  auto& st = self->state;
  if (!st.handoff() || job->receipt.applied() == 0) return finish_write(self, *job);
  ++job->pending; // held until every append is issued
  if (!st.left_out.empty() || st.forgetting_left_out) {
    ++job->pending; // held until the left-out backends' markers are gone
    forget_left_out(self, [self, job] {
      if (--job->pending == 0) finish_write(self, *job);
    });
  }
  bool collection_write = job->op == operation::create_collection
                          || job->op == operation::drop_collection;
  for (size_t entry = 0; entry < job->receipt.backends.size(); ++entry) {
    if (job->receipt.backends[entry].outcome == write_outcome::applied) continue;
    auto i = job->slot_of[entry];
    auto& replica = st.slots[i].replica;
    if (!replica.hints) continue;
    if (collection_write) replica.queued_collections.insert(job->entry.collection);
    ++job->pending;
    store_hint(self, i, job->entry, [self, job, entry](std::string failure) {
      auto& b = job->receipt.backends[entry];
      if (failure.empty()) {
        b.outcome = write_outcome::deferred;
      } else {
        b.outcome = write_outcome::failed;
        b.error = failure;
        if (job->not_durable.empty()) job->not_durable = failure;
      }
      if (--job->pending == 0) finish_write(self, *job);
    });
  }
  if (--job->pending == 0) finish_write(self, *job);
}

void sent(coordinator_pointer self, std::shared_ptr<write_job> job) {
  if (--job->pending == 0) keep_missed(self, std::move(job));
}

/// Whether slot `s` takes write `op` on `collection` directly now; if not,
/// it gets it through its handoff log.
bool takes_directly(coordinator_pointer self, const slot& s, operation op,
                    const std::string& collection) {
  if (!s.reachable_for_write(op)) return false;
  if (!self->state.handoff() || s.replica.in_sync()) return true;
  // Behind: document writes go straight to it (versions order them), but a
  // create or drop must stay in order with the writes it is replaying, and
  // so must every later write to that collection.
  if (op == operation::create_collection || op == operation::drop_collection) return false;
  return !s.replica.queued_collections.count(collection);
}

/// The deadline of the send to receipt entry `entry`: when it passes, the
/// backend counts as failed for this write (which then waits in its log).
uint64_t arm_send(coordinator_pointer self, std::shared_ptr<write_job> job, size_t entry, size_t i,
                  permit p, time_point t, duration timeout) {
  // `timeout` counts from the send at `t`.
  return arm(self, t + timeout - now(self), [self, job, entry, i, p, t, timeout] {
    auto err = missed_deadline(timeout);
    record(self, i, job->op, p, err, now(self) - t);
    job->receipt.backends[entry].error = describe(err);
    sent(self, job);
  });
}

/// Once one backend applied the write, the others get a grace period more,
/// not the whole request deadline: `write_grace` if their circuit is closed
/// (a healthy backend that is merely slower, e.g. a vector store busy with
/// an index rebuild, should not miss writes and leave reads for that), one
/// attempt timeout if it is already failing. A hung database then holds a
/// write for the grace, and the write waits in its log.
void hurry_the_rest(coordinator_pointer self, std::shared_ptr<write_job> job, time_point t) {
  auto& st = self->state;
  if (!st.handoff()) return;
  for (size_t entry = 0; entry < job->tickets.size(); ++entry) {
    auto& b = job->receipt.backends[entry];
    if (job->tickets[entry] == 0 || b.outcome != write_outcome::failed || !b.error.empty()
        || job->hurried[entry])
      continue;
    auto& s = st.slots[job->slot_of[entry]];
    auto grace = s.routing.circuit() == circuit_state::closed
                   ? std::max(st.cfg.write_grace, st.cfg.attempt_timeout)
                   : st.cfg.attempt_timeout;
    auto timeout = (now(self) - t) + grace;
    if (timeout >= job->budget) continue;
    // Still waiting for this one: a shorter deadline from now on.
    if (!st.deadlines.disarm(job->tickets[entry])) continue;
    job->hurried[entry] = true;
    job->tickets[entry] = arm_send(self, job, entry, job->slot_of[entry], job->permits[entry], t,
                                   timeout);
  }
}

/// `send(self, handle, on_ok(bool existed), on_error(caf::error&))` sends
/// the write to one backend. Delivers the receipt to `rp`.
template <class Send>
void write_to(coordinator_pointer self, caf::typed_response_promise<write_receipt> rp,
              operation op, handoff_entry entry, uint64_t version, duration budget, Send send) {
  auto& st = self->state;
  refresh(self);
  // A write reaches every backend it can: if one of them is full, shed it
  // whole (nothing applied, safe to retry) rather than let it queue there
  // or turn overload into a handoff backlog.
  for (auto& s : st.slots)
    if (!s.routing.known_incapable(op) && s.saturated()
        && takes_directly(self, s, op, entry.collection)) {
      metrics(self).shed(op, s.name);
      rp.deliver(overloaded(self, op));
      return;
    }
  auto job = std::make_shared<write_job>();
  job->op = op;
  job->rp = std::move(rp);
  job->entry = std::move(entry);
  job->receipt.version = version;
  job->budget = budget;
  if (version != 0) st.writes_in_flight.insert(version);
  metrics(self).in_flight(op, +1);
  auto t = now(self);
  std::vector<std::pair<size_t, permit>> targets;
  for (size_t i = 0; i < st.slots.size(); ++i) {
    auto& s = st.slots[i];
    if (s.routing.known_incapable(op)) continue;
    job->slot_of.push_back(i);
    // A write goes to every backend whose circuit is not open, even while
    // half-open trial slots are taken: a skipped write is a missed write.
    if (takes_directly(self, s, op, job->entry.collection)) {
      auto p = s.routing.admit(t);
      sync_circuit(self, s);
      if (!p.admitted) p = permit{true, false}; // outcome informs nothing while half-open
      job->receipt.backends.push_back({s.name, write_outcome::failed, {}});
      targets.emplace_back(job->receipt.backends.size() - 1, p);
    } else {
      job->receipt.backends.push_back({s.name, write_outcome::skipped, why_not(s, op)});
    }
  }
  if (targets.empty()) return finish_write(self, *job);
  job->pending = targets.size();
  job->tickets.assign(job->receipt.backends.size(), 0);
  job->permits.assign(job->receipt.backends.size(), permit{});
  job->hurried.assign(job->receipt.backends.size(), false);
  for (auto& target : targets) {
    // Copies, not structured bindings: the lambdas below capture them.
    size_t entry = target.first;
    permit p = target.second;
    auto i = job->slot_of[entry];
    job->permits[entry] = p;
    job->tickets[entry] = arm_send(self, job, entry, i, p, t, job->budget);
    st.slots[i].routing.call_sent();
    send(
      self, st.slots[i].routing.handle(),
      [self, job, entry, i, p, t](bool existed) {
        self->state.slots[i].routing.call_answered();
        if (!self->state.deadlines.disarm(job->tickets[entry])) return;
        record(self, i, job->op, p, {}, now(self) - t);
        job->receipt.backends[entry].outcome = write_outcome::applied;
        job->receipt.changed |= existed;
        hurry_the_rest(self, job, t);
        sent(self, job);
      },
      [self, job, entry, i, p, t](caf::error& err) {
        self->state.slots[i].routing.call_answered();
        if (!self->state.deadlines.disarm(job->tickets[entry])) return;
        record(self, i, job->op, p, err, now(self) - t);
        job->receipt.backends[entry].error = describe(err);
        if (is_client_error(err) && !job->client_error) job->client_error = err;
        sent(self, job);
      });
  }
}

/// A write without a version (collection create and drop).
template <class Send>
caf::result<write_receipt> write(coordinator_pointer self, operation op, handoff_entry entry,
                                 uint64_t version, Send send) {
  auto rp = self->make_response_promise<write_receipt>();
  write_to(self, rp, op, std::move(entry), version, self->state.cfg.request_timeout,
           std::move(send));
  return rp;
}

/// A document write: it takes the next version first (at once, unless it
/// must wait for the next version ceiling to be stored), then `prepare(v)`
/// stamps it and returns (entry, send) to go out with it.
template <class Prepare>
caf::result<write_receipt> versioned_write(coordinator_pointer self, operation op,
                                           Prepare prepare) {
  auto rp = self->make_response_promise<write_receipt>();
  auto deadline = now(self) + self->state.cfg.request_timeout;
  with_version(self, self->state.cfg.request_timeout,
               [self, rp, op, deadline,
                prepare = std::move(prepare)](caf::expected<uint64_t> v) mutable {
                 if (!v) {
                   rp.deliver(std::move(v.error()));
                   return;
                 }
                 // The rest of the request deadline, after any wait.
                 auto budget = std::max(deadline - now(self), duration{1});
                 auto [entry, send] = prepare(*v);
                 write_to(self, rp, op, std::move(entry), *v, budget, std::move(send));
               });
  return rp;
}

// -- health -----------------------------------------------------------------------

duration jittered(coordinator_pointer self, duration base) {
  auto j = std::clamp(self->state.cfg.probe_jitter, 0.0, 1.0);
  std::uniform_real_distribution<double> dist{1.0 - j, 1.0 + j};
  return duration{static_cast<duration::rep>(double(base.count()) * dist(self->state.rng))};
}

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
      },
      [self, i, t](caf::error& err) {
        auto& s = self->state.slots[i];
        s.routing.probe_done();
        metrics(self).backend_call(operation::probe, s.name, outcome_of(err), now(self) - t);
        s.last_error = "probe: " + describe(err);
        s.routing.record_probe(classify(err), now(self));
        sync_circuit(self, s, s.last_error);
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
    sync_circuit(self, s, "backend (re)started");
    on_backend_up(self, index);
  } else {
    s.routing.left_up(ev.state);
    if (!ev.reason.empty()) s.last_error = ev.reason;
  }
}

health_report health(coordinator_pointer self);

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
    h.serving = s.serves_reads(operation::get);
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
    return self->delegate(s.routing.supervisor(), hold_atom::value, hold);
  }
  return caf::error{errc::not_found, "no backend named '" + name + "'"};
}

coordinator_actor::behavior_type coordinator(coordinator_pointer self, coordinator_config cfg) {
  auto& st = self->state;
  if (!cfg.metrics) cfg.metrics = std::make_shared<null_metrics>();
  st.rng.seed(cfg.seed != 0 ? cfg.seed : std::random_device{}());
  if (cfg.backends.size() > 64) throw std::invalid_argument("at most 64 backends");
  for (auto& name : cfg.backends)
    st.slots.push_back(make_slot(name, cfg));
  st.cfg = std::move(cfg);
  for (uint32_t i = 0; i < st.slots.size(); ++i) schedule_probe(self, i);
  start_replication(self);
  schedule_purge(self);
  schedule_repair(self);
  using ptr = coordinator_pointer;
  using ok_fn = std::function<void(bool)>;
  using err_fn = std::function<void(caf::error&)>;
  // Sends a write whose reply is ok_atom.
  auto acked = [](ok_fn ok) { return [ok](ok_atom) { ok(false); }; };
  using kind = handoff_entry::kind;
  return {
    [self](create_atom a, collection_spec& spec) {
      handoff_entry e{kind::create, spec.name, spec, {}, {}, 0};
      // Each backend answers whether it created the collection; the
      // receipt says created if any did (write_receipt::created). An
      // identical one already there is a success, another spec a conflict
      // (a client error, as before).
      return write(self, operation::create_collection, std::move(e), 0,
                   [a, spec](ptr self, backend_actor h, ok_fn ok, err_fn err) {
                     self->request(h, caf::infinite, a, spec)
                       .then([ok](bool created) { ok(created); }, err);
                   });
    },
    [self, acked](drop_atom a, std::string& name) {
      handoff_entry e{kind::drop, name, {}, {}, {}, 0};
      return write(self, operation::drop_collection, std::move(e), 0,
                   [a, name, acked](ptr self, backend_actor h, ok_fn ok, err_fn err) {
                     self->request(h, caf::infinite, a, name).then(acked(ok), err);
                   });
    },
    [self, acked](upsert_atom a, std::string& c, std::vector<document>& docs) {
      return versioned_write(
        self, operation::upsert,
        [a, acked, c = std::move(c), docs = std::move(docs)](uint64_t v) mutable {
          for (auto& d : docs) d.version = v;
          handoff_entry e{kind::upsert, std::move(c), {}, std::move(docs), {}, 0};
          // One shared copy of the batch, however many backends it goes to.
          auto entry = std::make_shared<const handoff_entry>(e);
          auto send = [a, entry, acked](ptr self, backend_actor h, ok_fn ok, err_fn err) {
            self->request(h, caf::infinite, a, entry->collection, entry->docs)
              .then(acked(ok), err);
          };
          return std::make_pair(std::move(e), std::move(send));
        });
    },
    [self](remove_atom a, std::string& c, std::string& id) {
      return versioned_write(self, operation::remove, [a, c, id](uint64_t v) {
        handoff_entry e{kind::remove, c, {}, {}, id, v};
        auto send = [a, c, id, v](ptr self, backend_actor h, ok_fn ok, err_fn err) {
          self->request(h, caf::infinite, a, c, id, v)
            .then([ok](bool existed) { ok(existed); }, err);
        };
        return std::make_pair(std::move(e), std::move(send));
      });
    },
    [self](list_atom a) {
      return read<std::vector<collection_spec>>(
        self, operation::list_collections,
        [a](ptr self, backend_actor h) { return self->request(h, caf::infinite, a); });
    },
    [self](stats_atom a, std::string& name) {
      return read<collection_stats>(
        self, operation::collection_stats,
        [a, name](ptr self, backend_actor h) { return self->request(h, caf::infinite, a, name); });
    },
    [self](get_atom a, std::string& c, std::string& id) {
      return read<document>(self, operation::get,
                            [a, c, id](ptr self, backend_actor h) {
                              return self->request(h, caf::infinite, a, c, id);
                            });
    },
    [self](search_atom a, search_query& q) {
      return read<std::vector<search_hit>>(
        self, operation::search,
        [a, q](ptr self, backend_actor h) { return self->request(h, caf::infinite, a, q); });
    },
    [self](health_atom) { return health(self); },
    [self](ready_atom) -> caf::result<health_report> {
      if (all_reported(self)) return health(self);
      auto rp = self->make_response_promise<health_report>();
      self->state.awaiting_ready.push_back(rp);
      return rp;
    },
    [self](check_atom) { return start_check(self); },
    [self](check_atom, bool repair) { return start_check_job(self, repair, false); },
    [self](status_atom, uint64_t id) { return check_status_of(self, id); },
    [self](ready_atom, uint64_t id) { return await_check(self, id); },
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
           uint64_t replayed) { on_progress(self, i, job, copied, pending, replayed); },
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

namespace detail {

void deliver_ready(coordinator_pointer self) {
  if (self->state.awaiting_ready.empty() || !all_reported(self)) return;
  auto report = health(self);
  for (auto& rp : self->state.awaiting_ready) rp.deliver(report);
  self->state.awaiting_ready.clear();
}

} // namespace detail

coordinator_actor spawn_coordinator(caf::actor_system& sys, coordinator_config cfg) {
  return sys.spawn(coordinator, std::move(cfg));
}

} // namespace lifeline
