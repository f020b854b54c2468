// The coordinator's write path: a write fans out to every backend that can
// take it now, and each one that misses it gets it in its handoff log
// before the receipt goes out (details atop write_job). Split from
// coordinator.cpp, which keeps the handler list and the call bookkeeping
// (record, outage) that writes share with reads and probes.
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

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
    if (st.cfg.shared_markers) {
      // A cluster leader: the next leader must not trust it, and no
      // follower may read from it, before the write is acknowledged.
      ++job->pending;
      unmark_missed(self, i, [self, job](std::string failure) {
        if (!failure.empty() && job->not_durable.empty())
          job->not_durable = "its replica marker could not be removed: " + failure;
        if (--job->pending == 0) finish_write(self, *job);
      });
      ++job->pending;
      await_unvouched(self, i, [self, job] {
        if (--job->pending == 0) finish_write(self, *job);
      });
    }
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

using ok_fn = std::function<void(bool)>;
using err_fn = std::function<void(caf::error&)>;
using kind = handoff_entry::kind;

/// Sends a write whose reply is ok_atom.
auto acked(ok_fn ok) {
  return [ok](ok_atom) { ok(false); };
}

} // namespace

caf::result<write_receipt> create_collection(coordinator_pointer self, collection_spec& spec) {
  handoff_entry e{kind::create, spec.name, spec, {}, {}, 0};
  // Each backend answers whether it created the collection; the
  // receipt says created if any did (write_receipt::created). An
  // identical one already there is a success, another spec a conflict
  // (a client error, as before).
  return write(self, operation::create_collection, std::move(e), 0,
               [spec](coordinator_pointer self, backend_actor h, ok_fn ok, err_fn err) {
                 self->request(h, call_bound(self, h), create_atom::value, spec)
                   .then([ok](bool created) { ok(created); }, err);
               });
}

caf::result<write_receipt> drop_collection(coordinator_pointer self, std::string& name) {
  handoff_entry e{kind::drop, name, {}, {}, {}, 0};
  return write(self, operation::drop_collection, std::move(e), 0,
               [name](coordinator_pointer self, backend_actor h, ok_fn ok, err_fn err) {
                 self->request(h, call_bound(self, h), drop_atom::value, name).then(acked(ok), err);
               });
}

caf::result<write_receipt> upsert_documents(coordinator_pointer self, std::string& c,
                                            std::vector<document>& docs) {
  return versioned_write(
    self, operation::upsert, [c = std::move(c), docs = std::move(docs)](uint64_t v) mutable {
      for (auto& d : docs) d.version = v;
      handoff_entry e{kind::upsert, std::move(c), {}, std::move(docs), {}, 0};
      // One shared copy of the batch, however many backends it goes to.
      auto entry = std::make_shared<const handoff_entry>(e);
      auto send = [entry](coordinator_pointer self, backend_actor h, ok_fn ok, err_fn err) {
        self->request(h, call_bound(self, h), upsert_atom::value, entry->collection, entry->docs)
          .then(acked(ok), err);
      };
      return std::make_pair(std::move(e), std::move(send));
    });
}

caf::result<write_receipt> remove_document(coordinator_pointer self, std::string& c,
                                           std::string& id) {
  return versioned_write(self, operation::remove, [c, id](uint64_t v) {
    handoff_entry e{kind::remove, c, {}, {}, id, v};
    auto send = [c, id, v](coordinator_pointer self, backend_actor h, ok_fn ok, err_fn err) {
      self->request(h, call_bound(self, h), remove_atom::value, c, id, v)
        .then([ok](bool existed) { ok(existed); }, err);
    };
    return std::make_pair(std::move(e), std::move(send));
  });
}

} // namespace lifeline::detail
