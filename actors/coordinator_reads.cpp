// The coordinator's read path: a read goes to one backend at a time, in
// priority order (backends that prefer the operation first), and falls
// back to the next on a failure, a missed attempt deadline or a damaged
// copy, until one answers or the request deadline passes. Split from
// coordinator.cpp, which keeps the handler list and the call bookkeeping
// (record, outage) that reads share with writes and probes.
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

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
caf::result<served<T>> read(coordinator_pointer self, operation op, Send send,
                            const read_escalation& from = {}) {
  auto job = std::make_shared<read_job<T, Send>>(read_job<T, Send>{
    op, self->template make_response_promise<served<T>>(),
    now(self) + self->state.cfg.request_timeout, std::move(send)});
  // A read handed over by the direct path: what it tried is skipped, and a
  // damaged copy it found is remembered (see try_read).
  job->tried = from.tried;
  job->last_failed = from.failed;
  if (is(from.err, errc::corrupt_document)) job->damaged = from.err;
  metrics(self).in_flight(op, +1);
  try_read(self, job);
  return job->rp;
}

} // namespace

caf::result<served<std::vector<collection_spec>>> list_collections(coordinator_pointer self) {
  return read<std::vector<collection_spec>>(self, operation::list_collections,
                                            [](coordinator_pointer self, backend_actor h) {
                                              return self->request(h, caf::infinite,
                                                                   list_atom::value);
                                            });
}

caf::result<served<collection_stats>> stats_of(coordinator_pointer self, std::string& name) {
  return read<collection_stats>(self, operation::collection_stats,
                                [name](coordinator_pointer self, backend_actor h) {
                                  return self->request(h, caf::infinite, stats_atom::value, name);
                                });
}

caf::result<served<document>> get_document(coordinator_pointer self, std::string& c,
                                           std::string& id, const read_escalation& from) {
  return read<document>(
    self, operation::get,
    [c, id](coordinator_pointer self, backend_actor h) {
      return self->request(h, caf::infinite, get_atom::value, c, id);
    },
    from);
}

caf::result<served<std::vector<search_hit>>>
search_documents(coordinator_pointer self, search_query& q, const read_escalation& from) {
  return read<std::vector<search_hit>>(
    self, operation::search,
    [q](coordinator_pointer self, backend_actor h) {
      return self->request(h, caf::infinite, search_atom::value, q);
    },
    from);
}

} // namespace lifeline::detail
