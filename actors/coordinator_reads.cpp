// The coordinator's read path: a read goes to one backend at a time, in
// the order read_order gives (backends that prefer the operation first,
// latency outliers last: coordinator_hedging.cpp), and falls back to the
// next on a failure, a missed attempt deadline or a damaged copy, until one
// answers or the request deadline passes. One that has not answered within
// its backend's recent p95 is hedged: sent to the next candidate too, and
// the first answer wins (the other's is recorded for its backend, then
// ignored). Split from
// coordinator.cpp, which keeps the handler list and the call bookkeeping
// (record, outage) that reads share with writes and probes.
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

// -- reads: priority order with fallback, and one hedge ----------------------------

template <class T, class Send>
struct read_job {
  operation op;
  caf::typed_response_promise<served<T>> rp;
  time_point deadline;
  Send send;
  uint64_t tried = 0; ///< Bit i: slot i was tried.
  uint64_t open = 0;  ///< Bit i: the attempt on slot i is in flight (no answer, no timeout).
  int last_failed = -1;
  int hedged_to = -1;        ///< The slot the hedge went to (one hedge per read).
  uint64_t hedge_timer = 0;  ///< The armed hedge deadline (0: none).
  bool done = false;         ///< Answered: later answers are ignored.
  caf::error damaged{}; ///< A backend's copy was damaged (corrupt_document).
  /// Handed over by the direct path, which reports the answer the caller
  /// got: counted there, not here (coordinator_direct.cpp).
  bool escalated = false;
  /// Why the first choice was not the one to go to, when the read began
  /// (its state may change before the answer).
  std::optional<fallback_reason> first_skipped;
};

/// The read is answered by slot #i: a fallback if that is not its first
/// choice (a hedge that won is counted as one, not as a fallback).
template <class Job>
void answered_by(coordinator_pointer self, Job& job, size_t i) {
  if (job->escalated || job->hedged_to == static_cast<int>(i)) return;
  auto f = first_choice(self, job->op);
  count_fallback(self, job->op, i, f && ((job->tried >> *f) & 1u), job->first_skipped);
}

template <class Job>
void finish(coordinator_pointer self, Job& job) {
  job->done = true;
  if (job->hedge_timer != 0) self->state.deadlines.disarm(job->hedge_timer);
  job->hedge_timer = 0;
  metrics(self).in_flight(job->op, -1);
}

template <class T, class Send>
void try_read(coordinator_pointer self, std::shared_ptr<read_job<T, Send>> job, bool hedge = false);

/// An attempt in flight is on a backend that prefers the operation.
template <class Job>
bool waits_on_preferred(coordinator_pointer self, const Job& job) {
  auto& slots = self->state.slots;
  for (size_t j = 0; j < slots.size(); ++j)
    if (((job.open >> j) & 1u) && slots[j].routing.preferred().has(job.op)) return true;
  return false;
}

/// Arms the hedge of the attempt on slot #i (sent with attempt deadline
/// `timeout`): if it has not answered within the slot's p95 for the
/// operation, and the budget allows, the next candidate gets the read too.
/// A hedge the attempt deadline would beat is not armed (the fallback
/// comes first), so a hedge never goes past a deadline.
template <class T, class Send>
void arm_hedge(coordinator_pointer self, std::shared_ptr<read_job<T, Send>> job, size_t i,
               duration timeout) {
  if (job->hedged_to >= 0) return;
  auto delay = hedge_delay(self, i, job->op);
  if (!delay || *delay >= timeout) return;
  if (job->hedge_timer != 0) self->state.deadlines.disarm(job->hedge_timer);
  job->hedge_timer = arm(self, *delay, [self, job, i] {
    job->hedge_timer = 0;
    if (job->done || !((job->open >> i) & 1u)) return; // answered, or failed over already
    if (!self->state.hedges->try_hedge()) return;
    try_read(self, job, true);
  });
}

template <class T, class Send>
void try_read(coordinator_pointer self, std::shared_ptr<read_job<T, Send>> job, bool hedge) {
  if (job->done) return;
  auto& st = self->state;
  auto t = now(self);
  int pick = -1;
  bool more = false; // another candidate left after `pick`
  bool saturated = false; // one was skipped for being at its bound
  for (auto i : read_order(self, job->op)) {
    if ((job->tried >> i) & 1u) continue;
    // A backend demoted for this operation is far slower than the one the
    // read waits on: a hedge to it would rarely win and only add load.
    if (hedge && st.slots[i].demoted[static_cast<size_t>(job->op)]) continue;
    // Nor to one that does not prefer the operation while the read waits on
    // one that does (an exact search in PostgreSQL hedging the vector
    // store's would cost far more than it could save).
    if (hedge && !st.slots[i].routing.preferred().has(job->op) && waits_on_preferred(self, *job))
      continue;
    if (st.slots[i].saturated()) {
      // Full: the request goes to the next backend, or is shed below;
      // it never queues behind the bound.
      if (!hedge) metrics(self).shed(job->op, st.slots[i].name);
      saturated = true;
      continue;
    }
    if (pick >= 0) {
      more = true;
      break;
    }
    pick = static_cast<int>(i);
  }
  auto fail = [&](caf::error err) {
    finish(self, job);
    job->rp.deliver(std::move(err));
  };
  // With an attempt still in flight, a read that finds no other candidate
  // waits for it (its answer or its deadline decides); a hedge just stays
  // unsent.
  if (pick < 0) {
    if (hedge || job->open != 0) return;
    return fail(saturated ? overloaded(self, job->op) : outage(self, job->op));
  }
  auto remaining = job->deadline - t;
  if (remaining <= duration::zero()) {
    if (hedge || job->open != 0) return;
    auto after = job->last_failed >= 0 ? " after " + st.slots[job->last_failed].last_error : "";
    return fail(caf::error{errc::timeout, "request deadline passed" + after});
  }
  auto& s = st.slots[pick];
  auto timeout = more ? std::min(st.cfg.attempt_timeout, remaining) : remaining;
  auto p = s.routing.admit(t);
  sync_circuit(self, s);
  auto i = static_cast<size_t>(pick);
  job->tried |= uint64_t{1} << i;
  job->open |= uint64_t{1} << i;
  if (hedge) {
    job->hedged_to = pick;
    metrics(self).hedge_sent(job->op, s.name);
    log().debug("{}: hedged to {}", to_string(job->op), s.name);
  } else if (job->last_failed >= 0) {
    log().debug("{}: falling back from {} to {}", to_string(job->op),
                st.slots[job->last_failed].name, s.name);
  }
  auto closed = [job, i] { job->open &= ~(uint64_t{1} << i); };
  auto ticket = arm(self, timeout, [self, job, i, p, t, timeout, closed] {
    closed();
    record(self, i, job->op, p, missed_deadline(timeout), now(self) - t);
    job->last_failed = static_cast<int>(i);
    try_read(self, job);
  });
  s.routing.call_sent();
  job->send(self, s.routing.handle())
    .then(
      [self, job, i, p, t, ticket, closed](T& value) {
        self->state.slots[i].routing.call_answered();
        if (!self->state.deadlines.disarm(ticket)) return; // too late: already failed over
        closed();
        auto latency = now(self) - t;
        record(self, i, job->op, p, {}, latency);
        observe_latency(self, i, job->op, latency);
        if (job->done) return; // the other attempt answered first
        served_ok(self);
        if (job->hedged_to == static_cast<int>(i))
          metrics(self).hedge_won(job->op, self->state.slots[i].name);
        answered_by(self, job, i);
        finish(self, job);
        job->rp.deliver(served<T>{self->state.slots[i].name, std::move(value)});
      },
      [self, job, i, p, t, ticket, closed](caf::error& err) {
        self->state.slots[i].routing.call_answered();
        if (!self->state.deadlines.disarm(ticket)) return;
        closed();
        record(self, i, job->op, p, err, now(self) - t);
        if (job->done) return;
        if (is_client_error(err)) {
          // An answer (e.g. not_found), not a failure: no fallback. But a
          // document another backend holds, damaged, is not "not found".
          served_ok(self);
          answered_by(self, job, i);
          finish(self, job);
          if (job->damaged && is(err, errc::not_found)) err = job->damaged;
          job->rp.deliver(std::move(err));
          return;
        }
        if (is(err, errc::corrupt_document)) {
          // This backend's copy of the document is damaged; another backend
          // (or the other attempt in flight) may hold a good one, so wait
          // for it. If none is left, the caller gets this error, which names
          // the document: not an outage (every backend is fine), and
          // retrying will not help.
          auto& slots = self->state.slots;
          refresh(self);
          bool other = job->open != 0;
          for (size_t j = 0; j < slots.size() && !other; ++j)
            other = !((job->tried >> j) & 1u) && slots[j].serves_reads(job->op);
          if (!other) {
            served_ok(self);
            finish(self, job);
            job->rp.deliver(std::move(err));
            return;
          }
          job->damaged = err;
        }
        job->last_failed = static_cast<int>(i);
        try_read(self, job);
      });
  if (!hedge && more && st.cfg.hedging) arm_hedge(self, job, i, timeout);
}

template <class T, class Send>
caf::result<served<T>> read(coordinator_pointer self, operation op, Send send,
                            const read_escalation& from = {}) {
  auto job = std::make_shared<read_job<T, Send>>(read_job<T, Send>{
    op, self->template make_response_promise<served<T>>(),
    now(self) + self->state.cfg.request_timeout, std::move(send)});
  // A read handed over by the direct path: what it tried is skipped, and a
  // damaged copy it found is remembered (see try_read).
  job->tried = from.tried;
  job->last_failed = from.failed;
  job->escalated = from.tried != 0;
  job->first_skipped = skip_reason(self, op);
  if (is(from.err, errc::corrupt_document)) job->damaged = from.err;
  metrics(self).in_flight(op, +1);
  self->state.hedges->on_read();
  try_read(self, job);
  return job->rp;
}

} // namespace

caf::result<served<std::vector<collection_spec>>> list_collections(coordinator_pointer self) {
  return read<std::vector<collection_spec>>(self, operation::list_collections,
                                            [](coordinator_pointer self, backend_actor h) {
                                              return self->request(h, call_bound(self, h),
                                                                   list_atom::value);
                                            });
}

caf::result<served<collection_stats>> stats_of(coordinator_pointer self, std::string& name) {
  return read<collection_stats>(self, operation::collection_stats,
                                [name](coordinator_pointer self, backend_actor h) {
                                  return self->request(h, call_bound(self, h), stats_atom::value, name);
                                });
}

caf::result<served<document>> get_document(coordinator_pointer self, std::string& c,
                                           std::string& id, const read_escalation& from) {
  return read<document>(
    self, operation::get,
    [c, id](coordinator_pointer self, backend_actor h) {
      return self->request(h, call_bound(self, h), get_atom::value, c, id);
    },
    from);
}

caf::result<served<std::vector<search_hit>>>
search_documents(coordinator_pointer self, search_query& q, const read_escalation& from) {
  return read<std::vector<search_hit>>(
    self, operation::search,
    [q](coordinator_pointer self, backend_actor h) {
      return self->request(h, call_bound(self, h), search_atom::value, q);
    },
    from);
}

} // namespace lifeline::detail
