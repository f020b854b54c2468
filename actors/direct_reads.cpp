#include "actors/direct_reads.hpp"

#include "actors/errors.hpp"
#include "actors/reply_checks.hpp"
#include "actors/routing_snapshot.hpp"
#include "backends/backend.hpp"
#include "health/hedge_budget.hpp"

#include <caf/all.hpp>

#include <atomic>
#include <mutex>
#include <optional>

namespace lifeline {

using clock_type = std::chrono::steady_clock;

struct direct_reads::shared {
  std::shared_ptr<routing_board> board;
  submit_fn submit;
  std::chrono::milliseconds timeout;
  /// Owned by direct_reads (its thread must never join itself, as it would
  /// if the last read held it); used only under `mutex` and until stopped.
  hedge_timer* timer = nullptr;
  std::mutex mutex; ///< Guards `stopped` against a concurrent stop().
  bool stopped = false;

  /// Arms the timer unless stopped (then the read goes on without: the
  /// store's own bound still ends it).
  void at(hedge_timer::clock::time_point when, std::function<void()> fn) {
    std::lock_guard<std::mutex> lock{mutex};
    if (!stopped) timer->at(when, std::move(fn));
  }

  /// Hands a job to the coordinator unless stopped; false if stopped.
  bool hand_over(job j) {
    std::lock_guard<std::mutex> lock{mutex};
    if (stopped) return false;
    submit(std::move(j));
    return true;
  }
};

namespace {

/// The request itself, kept to hand it to the coordinator.
struct get_request {
  std::string collection;
  std::string id;
};

template <class T, class Request>
struct direct_call : std::enable_shared_from_this<direct_call<T, Request>> {
  std::shared_ptr<direct_reads::shared> sh;
  Request request;
  direct_reads::reply<T> done;
  operation op;
  direct_route route;
  clock_type::time_point start;
  std::atomic<bool> answered{false};
  std::mutex mutex;
  int running = 0;          ///< Attempts not finished (the direct call, handed-over ones).
  bool direct_done = false; ///< The direct call has answered.
  bool handed_over = false; ///< The coordinator has the read too.
  caf::error last_error;

  /// An attempt ended: the first answer goes to the caller; an error only
  /// once nothing else runs. The coordinator's error wins over the direct
  /// call's (it saw every backend), whichever came first.
  /// Returns whether this was the answer the caller got.
  bool finish(caf::expected<served<T>> r, bool from_coordinator = false) {
    if (r) {
      bool first = !answered.exchange(true);
      if (first) done(std::move(r));
      std::lock_guard<std::mutex> lock{mutex};
      --running;
      return first;
    }
    bool last;
    caf::error err;
    {
      std::lock_guard<std::mutex> lock{mutex};
      if (from_coordinator || !last_error) last_error = r.error();
      last = --running == 0;
      err = last_error;
    }
    if (last && !answered.exchange(true)) {
      done(std::move(err));
      return true;
    }
    return false;
  }

  auto remaining() const {
    auto left = sh->timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                clock_type::now() - start);
    return std::max(left, std::chrono::milliseconds{1});
  }

  /// Hands the read to the coordinator, skipping the directly tried backend.
  /// `instead`: the direct call has ended (failed), and the coordinator's
  /// attempt takes its place; otherwise both run (a hedge, a give-up).
  void hand_over(read_escalation esc, bool instead = false) {
    {
      std::lock_guard<std::mutex> lock{mutex};
      if (handed_over) return;
      handed_over = true;
      if (!instead) ++running;
    }
    auto self_ptr = this->shared_from_this();
    auto timeout = caf::duration{remaining()};
    bool sent = sh->hand_over([self_ptr, esc, timeout](caf::event_based_actor* self,
                                                        const coordinator_actor& c) {
      send_request(self, c, timeout, self_ptr->request, esc)
        .then(
          [self_ptr, hedge = esc.hedge](served<T>& s) {
            // The coordinator's answer: the hedge that won, or the backend
            // the read fell over to (the coordinator counts the fallback).
            direct_outcome o;
            o.slot = self_ptr->route.slot;
            o.op = self_ptr->op;
            o.served_by = s.backend;
            o.delivered = self_ptr->finish(std::move(s));
            if (hedge && o.delivered) o.hedge_won_by = o.served_by;
            self_ptr->sh->board->report(std::move(o));
          },
          [self_ptr](caf::error& e) {
            if (!self_ptr->finish(std::move(e), true)) self_ptr->answer_by_deadline();
          });
    });
    if (!sent)
      finish(caf::error{errc::backend_unavailable, "the server is stopping"}, true);
  }

  /// The coordinator's attempt failed while the direct call still runs (a
  /// hedge, a give-up): that call has only the store's own bound, so the
  /// caller gets the error at the request's deadline if nothing came first.
  void answer_by_deadline() {
    if (answered.load()) return;
    auto self_ptr = this->shared_from_this();
    sh->at(start + sh->timeout, [self_ptr] {
      caf::error err;
      {
        std::lock_guard<std::mutex> lock{self_ptr->mutex};
        err = self_ptr->last_error;
      }
      if (!self_ptr->answered.exchange(true)) self_ptr->done(std::move(err));
    });
  }

  static auto send_request(caf::event_based_actor* self, const coordinator_actor& c,
                           caf::duration t, const get_request& r, const read_escalation& esc) {
    return self->request(c, t, get_atom::value, r.collection, r.id, esc);
  }
  static auto send_request(caf::event_based_actor* self, const coordinator_actor& c,
                           caf::duration t, const search_query& q, const read_escalation& esc) {
    return self->request(c, t, search_atom::value, q, esc);
  }

  /// The direct call answered with `r` (already checked).
  void on_direct(expected<T> r) {
    auto latency = clock_type::now() - start;
    sh->board->in_flight(route.slot).fetch_sub(1, std::memory_order_relaxed);
    bool coordinator_has_it;
    {
      std::lock_guard<std::mutex> lock{mutex};
      direct_done = true;
      coordinator_has_it = handed_over;
    }
    caf::error err = r ? caf::error{} : make_error(r.error());
    if (!err || is_client_error(err)) {
      // An answer: a document, or "not found" from a backend in sync.
      direct_outcome o{route.slot, op, latency, err};
      o.delivered = !err ? finish(served<T>{route.name, std::move(*r)}) : finish(caf::error{err});
      sh->board->report(std::move(o));
      return;
    }
    if (coordinator_has_it) {
      // A hedge or a give-up already runs: only the outcome is left to tell.
      sh->board->report(direct_outcome{route.slot, op, latency, err});
      finish(std::move(err));
      return;
    }
    read_escalation esc;
    esc.tried = uint64_t{1} << route.slot;
    esc.failed = static_cast<int32_t>(route.slot);
    esc.err = err;
    esc.latency_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count();
    hand_over(std::move(esc), true); // the coordinator's attempt replaces this one
  }

  /// The timer: hedge, or give up on the direct call.
  void on_timer(bool hedge_due) {
    if (answered.load()) return;
    {
      std::lock_guard<std::mutex> lock{mutex};
      if (direct_done || handed_over) return;
    }
    auto& budget = sh->board->budget;
    if (hedge_due && budget && budget->try_hedge()) {
      read_escalation esc;
      esc.tried = uint64_t{1} << route.slot;
      esc.hedge = true;
      hand_over(std::move(esc));
      return;
    }
    if (hedge_due) { // no budget left: wait until the attempt timeout
      auto self_ptr = this->shared_from_this();
      sh->at(start + route.give_up_after, [self_ptr] { self_ptr->on_timer(false); });
      return;
    }
    read_escalation esc;
    esc.tried = uint64_t{1} << route.slot;
    esc.failed = static_cast<int32_t>(route.slot);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(route.give_up_after).count();
    esc.err = caf::error{errc::timeout, "no reply within " + std::to_string(ms) + " ms"};
    esc.latency_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(route.give_up_after).count();
    hand_over(std::move(esc));
  }

  /// Arms the hedge or give-up timer, once the store's call has returned,
  /// unless it answered in place (the vector store answers on the caller's
  /// thread): the timer would only be cancelled, and arming it takes two
  /// locks that every reading thread shares. A call that answers in place
  /// runs to its end on the caller's thread either way, so a hedge could
  /// not have gone sooner than its answer.
  void arm_timer_unless_answered() {
    {
      std::lock_guard<std::mutex> lock{mutex};
      if (direct_done) return;
    }
    arm_timer();
  }

  void arm_timer() {
    bool hedge = route.hedge_after.count() > 0 && route.hedge_after < route.give_up_after;
    auto after = hedge ? route.hedge_after : route.give_up_after;
    if (after.count() <= 0) return;
    auto self_ptr = this->shared_from_this();
    sh->at(start + after, [self_ptr, hedge] { self_ptr->on_timer(hedge); });
  }
};

/// The first route of `op` if the read can be taken directly now.
std::optional<direct_route> pick(routing_board& board, operation op) {
  auto snap = board.load();
  auto& routes = snap->routes(op);
  if (routes.empty() || !routes.front().store) return std::nullopt;
  if (snap->valid_until != std::chrono::steady_clock::time_point::max()
      && std::chrono::steady_clock::now() >= snap->valid_until)
    return std::nullopt;
  auto& r = routes.front();
  auto& n = board.in_flight(r.slot);
  if (r.max_calls > 0 && n.load(std::memory_order_relaxed) >= r.max_calls) return std::nullopt;
  n.fetch_add(1, std::memory_order_relaxed);
  return r;
}

/// Runs the store's call, turning an exception into a failure.
template <class Call, class Done>
void guarded(Call&& call, Done&& on_error) {
  try {
    call();
  } catch (const std::exception& e) {
    on_error(backend_error{errc::backend_error, std::string{"backend threw: "} + e.what()});
  } catch (...) {
    on_error(backend_error{errc::backend_error, "backend threw"});
  }
}

} // namespace

direct_reads::direct_reads(std::shared_ptr<routing_board> board, submit_fn submit,
                           std::chrono::milliseconds timeout)
  : shared_(std::make_shared<shared>()), timer_(std::make_unique<hedge_timer>()) {
  shared_->timer = timer_.get();
  shared_->board = std::move(board);
  shared_->submit = std::move(submit);
  shared_->timeout = timeout;
}

direct_reads::~direct_reads() { stop(); }

void direct_reads::stop() {
  std::lock_guard<std::mutex> lock{shared_->mutex};
  shared_->stopped = true;
}

void direct_reads::get(std::string collection, std::string id, reply<document> done) {
  using call_t = direct_call<document, get_request>;
  auto call = std::make_shared<call_t>();
  call->sh = shared_;
  call->request = get_request{std::move(collection), std::move(id)};
  call->done = std::move(done);
  call->op = operation::get;
  call->start = clock_type::now();
  auto route = pick(*shared_->board, operation::get);
  if (!route) return call->hand_over({});
  call->route = std::move(*route);
  call->running = 1; // the direct call (nothing else runs yet)
  if (auto& b = shared_->board->budget) b->on_read();
  auto on_answer = [call](expected<document> r) {
    if (r && r->id != call->request.id)
      r = backend_error{errc::corrupt_response,
                        "get('" + call->request.id + "') returned document '" + r->id + "'"};
    else if (r && !finite(r->vector))
      r = backend_error{errc::corrupt_document, "document '" + call->request.id + "' in '"
                                                  + call->request.collection
                                                  + "' holds a non-finite vector"};
    call->on_direct(std::move(r));
  };
  guarded([&] { call->route.store->get_async(call->request.collection, call->request.id, on_answer); },
          [&](backend_error e) { on_answer(std::move(e)); });
  call->arm_timer_unless_answered();
}

void direct_reads::search(search_query query, reply<std::vector<search_hit>> done) {
  using call_t = direct_call<std::vector<search_hit>, search_query>;
  auto call = std::make_shared<call_t>();
  call->sh = shared_;
  call->request = std::move(query);
  call->done = std::move(done);
  call->op = operation::search;
  call->start = clock_type::now();
  auto route = pick(*shared_->board, operation::search);
  if (!route) return call->hand_over({});
  call->route = std::move(*route);
  call->running = 1;
  if (auto& b = shared_->board->budget) b->on_read();
  auto on_answer = [call](expected<std::vector<search_hit>> r) {
    if (r) {
      drop_damaged_hits(*r, call->request);
      if (auto broken = check_hits(*r, call->request.k))
        r = backend_error{errc::corrupt_response, *broken};
    }
    call->on_direct(std::move(r));
  };
  guarded([&] { call->route.store->search_async(call->request, on_answer); },
          [&](backend_error e) { on_answer(std::move(e)); });
  call->arm_timer_unless_answered();
}

} // namespace lifeline
