#include "actors/backend_actor.hpp"

#include "actors/busy_calls.hpp"
#include "actors/reply_checks.hpp"
#include "backends/backend.hpp"
#include "core/log.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace lifeline {

namespace {

// -- worker: one backend call at a time ---------------------------------------

struct worker_state {
  std::shared_ptr<backend> store;
  std::string kind; ///< store->kind(), for busy_calls().
  static inline const char* name = "lifeline.backend.worker";
};

using worker_pointer = backend_actor::stateful_pointer<worker_state>;

/// Replies with `err` and exits with it: the supervisor restarts the backend.
template <class T>
caf::result<T> crash(worker_pointer self, caf::error err) {
  self->quit(err);
  return err;
}

using invariant = std::optional<std::string>;

/// What a reply check found: a structural break of the backend (the worker
/// crashes), or one damaged document (that document's error; the backend
/// serves the others).
struct verdict {
  invariant broken;   ///< corrupt_response, and the worker crashes.
  invariant document; ///< corrupt_document, and the worker carries on.
};

verdict to_verdict(invariant broken) { return {std::move(broken), std::nullopt}; }
verdict to_verdict(verdict v) { return v; }

/// Runs one backend call: maps backend errors onto errc, and turns an
/// exception or a reply that fails `check` into a crash. `check` may also
/// repair the reply in place (e.g. drop a damaged search hit).
template <class T, class Call, class Check>
caf::result<T> run(worker_pointer self, Call&& call, Check&& check) {
  busy_call busy{self->state.kind};
  try {
    auto r = call();
    if (!r) return make_error(r.error());
    auto v = to_verdict(check(*r));
    if (v.broken) return crash<T>(self, caf::error{errc::corrupt_response, *v.broken});
    if (v.document) return caf::error{errc::corrupt_document, *v.document};
    return std::move(*r);
  } catch (const std::exception& e) {
    return crash<T>(self, caf::error{errc::backend_error, std::string{"backend threw: "} + e.what()});
  } catch (...) {
    return crash<T>(self, caf::error{errc::backend_error, std::string{"backend threw"}});
  }
}

/// The same for calls that return no value.
template <class Call>
caf::result<ok_atom> run_void(worker_pointer self, Call&& call) {
  busy_call busy{self->state.kind};
  try {
    auto r = call();
    if (!r) return make_error(r.error());
    return ok_atom::value;
  } catch (const std::exception& e) {
    return crash<ok_atom>(self, caf::error{errc::backend_error,
                                           std::string{"backend threw: "} + e.what()});
  } catch (...) {
    return crash<ok_atom>(self, caf::error{errc::backend_error, std::string{"backend threw"}});
  }
}

backend_actor::behavior_type worker(worker_pointer self, std::shared_ptr<backend> store) {
  self->state.store = std::move(store);
  self->state.kind = self->state.store->kind();
  auto no_check = [](const auto&) { return invariant{}; };
  return {
    [=](create_atom, const collection_spec& spec) -> caf::result<bool> {
      return run<bool>(
        self, [&] { return self->state.store->create_collection(spec); }, no_check);
    },
    [=](drop_atom, const std::string& name) {
      return run_void(self, [&] { return self->state.store->drop_collection(name); });
    },
    [=](list_atom) -> caf::result<std::vector<collection_spec>> {
      return run<std::vector<collection_spec>>(
        self, [&] { return self->state.store->list_collections(); }, no_check);
    },
    [=](stats_atom, const std::string& name) -> caf::result<collection_stats> {
      return run<collection_stats>(
        self, [&] { return self->state.store->collection_stats(name); },
        [&](const collection_stats& s) -> invariant {
          if (s.spec.name != name)
            return "stats for '" + name + "' came back for '" + s.spec.name + "'";
          return std::nullopt;
        });
    },
    [=](upsert_atom, const std::string& collection, const std::vector<document>& docs) {
      return run_void(self, [&] { return self->state.store->upsert(collection, docs); });
    },
    [=](get_atom, const std::string& collection, const std::string& id) -> caf::result<document> {
      return run<document>(
        self, [&] { return self->state.store->get(collection, id); },
        [&](const document& d) -> verdict {
          if (d.id != id) return {"get('" + id + "') returned document '" + d.id + "'", {}};
          if (!finite(d.vector))
            return {{}, "document '" + id + "' in '" + collection
                          + "' holds a non-finite vector"};
          return {};
        });
    },
    [=](remove_atom, const std::string& collection, const std::string& id,
        uint64_t version) -> caf::result<bool> {
      return run<bool>(
        self, [&] { return self->state.store->remove(collection, id, version); }, no_check);
    },
    [=](search_atom, const search_query& q) -> caf::result<std::vector<search_hit>> {
      return run<std::vector<search_hit>>(
        self, [&] { return self->state.store->search(q); },
        [&](std::vector<search_hit>& hits) {
          drop_damaged_hits(hits, q);
          return check_hits(hits, q.k);
        });
    },
    [=](probe_atom) { return run_void(self, [&] { return self->state.store->probe(); }); },
    [=](scan_atom, const scan_request& req) -> caf::result<std::vector<document>> {
      return run<std::vector<document>>(
        self, [&] { return self->state.store->scan(req); },
        [&](const std::vector<document>& docs) -> invariant {
          if (docs.size() > req.limit) return std::string{"scan returned more than its limit"};
          for (size_t i = 0; i < docs.size(); ++i) // ids are never empty
            if (docs[i].id <= (i == 0 ? req.after : docs[i - 1].id))
              return "scan returned ids out of order at '" + docs[i].id + "'";
          return std::nullopt;
        });
    },
    [=](versions_atom, const range_request& req) -> caf::result<std::vector<version_entry>> {
      return run<std::vector<version_entry>>(
        self, [&] { return self->state.store->versions(req); },
        [&](const std::vector<version_entry>& entries) -> invariant {
          if (entries.size() > req.limit) return std::string{"versions returned more than its limit"};
          for (size_t i = 0; i < entries.size(); ++i) {
            auto& id = entries[i].id;
            if (id <= (i == 0 ? req.after : entries[i - 1].id)
                || (!req.up_to.empty() && id > req.up_to))
              return "versions returned ids out of order or range at '" + id + "'";
          }
          return std::nullopt;
        });
    },
    [=](digest_atom, const range_request& req) -> caf::result<range_digest> {
      return run<range_digest>(
        self, [&] { return self->state.store->digest(req); },
        [&](const range_digest& d) -> invariant {
          if (d.count > req.limit) return std::string{"digest covered more than its limit"};
          return std::nullopt;
        });
    },
    [=](purge_atom, uint64_t up_to) -> caf::result<uint64_t> {
      return run<uint64_t>(
        self, [&] { return self->state.store->purge_tombstones(up_to); }, no_check);
    },
    [=](marker_atom) -> caf::result<std::string> {
      return run<std::string>(self, [&] { return self->state.store->replica_marker(); }, no_check);
    },
    [=](marker_atom, const std::string& marker) {
      return run_void(self, [&] { return self->state.store->set_replica_marker(marker); });
    },
  };
}

// -- pool: dispatch to the least busy worker ------------------------------------

/// The workers and their calls in flight.
struct worker_group {
  std::vector<backend_actor> workers;
  std::vector<uint32_t> busy;
};

/// The answer of a direct get (below), sent to the pool from the store's
/// own thread: not part of the backend_actor interface, so the pool takes
/// it in its default handler. In process only.
using direct_done_atom = caf::atom_constant<caf::atom("directget")>;

/// A get handed straight to a store with direct_reads(): no worker.
struct direct_get_call {
  caf::typed_response_promise<document> rp;
  std::string collection;
  std::string id;
};

struct pool_state {
  worker_group workers;
  /// Pending requests, failed at once if the pool goes down.
  std::unordered_map<uint64_t, std::function<void(const caf::error&)>> pending;
  /// Direct gets in flight (also in `pending`, which fails them if the pool
  /// goes down first), by call id.
  std::unordered_map<uint64_t, direct_get_call> direct;
  /// Set when gets go straight to the store (direct_reads(), see pool()).
  std::shared_ptr<backend> direct_store;
  uint64_t next_id = 0;
  static inline const char* name = "lifeline.backend";

  pool_state() = default;
  pool_state(const pool_state&) = delete;
  pool_state& operator=(const pool_state&) = delete;
  /// The pool's state goes when the pool terminates, however it ends: an
  /// exit its handler sees fails the pending calls first (below), but one it
  /// cannot see (exit_reason::kill, an exception) would drop their promises
  /// unanswered (CAF 0.17 sends nothing for a dropped promise), and each
  /// caller would keep its request handler, and its slot in the backend's
  /// in-flight bound, forever. So whatever is still pending fails here.
  ~pool_state() { fail_pending(caf::error{errc::backend_unavailable, "backend actor ended with the call pending"}); }

  void fail_pending(const caf::error& err) {
    auto calls = std::move(pending);
    pending.clear();
    for (auto& [id, fail] : calls) fail(err);
  }
};

using pool_pointer = backend_actor::stateful_pointer<pool_state>;

template <class T, class... Ts>
caf::result<T> dispatch(pool_pointer self, worker_group& group, Ts... xs) {
  auto& st = self->state;
  size_t w = 0;
  for (size_t i = 1; i < group.workers.size(); ++i)
    if (group.busy[i] < group.busy[w]) w = i;
  auto rp = self->make_response_promise<T>();
  auto id = st.next_id++;
  st.pending.emplace(id, [rp](const caf::error& err) mutable { rp.deliver(err); });
  ++group.busy[w];
  // Marks the call done; false if the pool already failed it.
  auto finish = [self, id, w, g = &group] {
    if (g->busy[w] > 0) --g->busy[w];
    return self->state.pending.erase(id) > 0;
  };
  self->request(group.workers[w], caf::infinite, std::move(xs)...)
    .then(
      [rp, finish](T& x) mutable {
        if (finish()) rp.deliver(std::move(x));
      },
      [rp, finish](caf::error& err) mutable {
        if (finish()) rp.deliver(std::move(err));
      });
  return rp;
}

/// A get on a store whose reads never block (backend::direct_reads()): the
/// pool calls get_async itself, no worker in between, and the store's loop
/// thread sends the answer back to the pool, which checks it as a worker
/// would (an id mismatch crashes the backend, a non-finite vector is a
/// damaged document). Never a response_promise delivered from a foreign
/// thread: the answer comes back as a message (anon_send is thread-safe),
/// through a weak handle, so a pool that went down meanwhile is not kept.
caf::result<document> direct_get(pool_pointer self, std::string collection, std::string id) {
  auto& st = self->state;
  auto rp = self->make_response_promise<document>();
  auto call = st.next_id++;
  st.pending.emplace(call, [rp](const caf::error& err) mutable { rp.deliver(err); });
  st.direct.emplace(call, direct_get_call{rp, collection, id});
  caf::weak_actor_ptr pool_ref{self->ctrl()};
  auto done = [pool_ref, call](expected<document> r) {
    auto strong = pool_ref.lock();
    if (!strong) return; // the pool is gone; its state failed the call
    auto dest = caf::actor_cast<caf::actor>(strong);
    if (r) caf::anon_send(dest, direct_done_atom::value, call, std::move(*r));
    else caf::anon_send(dest, direct_done_atom::value, call, make_error(r.error()));
  };
  try {
    st.direct_store->get_async(collection, id, std::move(done));
  } catch (const std::exception& e) {
    auto err = caf::error{errc::backend_error, std::string{"backend threw: "} + e.what()};
    st.fail_pending(err);
    self->quit(err);
  }
  return rp;
}

/// Takes a direct get's answer (in the pool's default handler). Returns
/// false if `xs` is not one.
bool finish_direct_get(pool_pointer self, caf::type_erased_tuple& xs) {
  bool ok = xs.match_elements<direct_done_atom, uint64_t, document>();
  if (!ok && !xs.match_elements<direct_done_atom, uint64_t, caf::error>()) return false;
  auto& st = self->state;
  auto call = xs.get_as<uint64_t>(1);
  auto it = st.direct.find(call);
  if (it == st.direct.end()) return true;
  auto c = std::move(it->second);
  st.direct.erase(it);
  if (st.pending.erase(call) == 0) return true; // already failed
  if (!ok) {
    c.rp.deliver(std::move(xs.get_mutable_as<caf::error>(2)));
    return true;
  }
  auto& d = xs.get_mutable_as<document>(2);
  if (d.id != c.id) { // the same crash as a worker's: the supervisor restarts us
    caf::error err{errc::corrupt_response, "get('" + c.id + "') returned document '" + d.id + "'"};
    c.rp.deliver(err);
    st.fail_pending(caf::error{errc::backend_unavailable,
                               "backend actor went down: " + describe(err)});
    self->quit(err);
  } else if (!finite(d.vector)) {
    c.rp.deliver(caf::error{errc::corrupt_document, "document '" + c.id + "' in '"
                                                      + c.collection
                                                      + "' holds a non-finite vector"});
  } else {
    c.rp.deliver(std::move(d));
  }
  return true;
}

uint32_t worker_count(const backend& store, const backend_actor_options& opts) {
  return opts.workers > 0 ? opts.workers : std::max<uint32_t>(store.concurrency(), 1);
}

void spawn_workers(pool_pointer self, worker_group& group, uint32_t n, bool detached,
                   const std::shared_ptr<backend>& store) {
  for (uint32_t i = 0; i < n; ++i) {
    group.workers.push_back(detached ? self->spawn<caf::linked + caf::detached>(worker, store)
                                     : self->spawn<caf::linked>(worker, store));
    group.busy.push_back(0);
  }
}

backend_actor::behavior_type pool(pool_pointer self, std::shared_ptr<backend> store,
                                  backend_actor_options opts) {
  auto n = worker_count(*store, opts);
  spawn_workers(self, self->state.workers, n, opts.detached.value_or(store->blocking()), store);
  // A worker's crash (or our supervisor's exit) takes the pool down, but
  // first every pending caller gets an error instead of waiting for its
  // timeout: the coordinator falls over at once.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    if (!msg.reason) return; // a worker that ended normally
    self->state.fail_pending(caf::error{errc::backend_unavailable,
                                        "backend actor went down: " + describe(msg.reason)});
    self->quit(msg.reason);
  });
  // Gets skip the workers on a store whose reads never block. A store that
  // only answers in place (memory) keeps them: computing its reads on the
  // pool would serialise them.
  if (store->direct_reads().has(operation::get) && store->blocking()) self->state.direct_store = store;
  self->set_default_handler(
    [self](caf::scheduled_actor* me, caf::message_view& view) -> caf::result<caf::message> {
      if (finish_direct_get(self, view.content())) return caf::message{};
      return caf::print_and_drop(me, view);
    });
  return {
    [=](create_atom a, collection_spec& s) {
      return dispatch<bool>(self, self->state.workers, a, std::move(s));
    },
    [=](drop_atom a, std::string& n) { return dispatch<ok_atom>(self, self->state.workers, a, std::move(n)); },
    [=](list_atom a) { return dispatch<std::vector<collection_spec>>(self, self->state.workers, a); },
    [=](stats_atom a, std::string& n) {
      return dispatch<collection_stats>(self, self->state.workers, a, std::move(n));
    },
    [=](upsert_atom a, std::string& c, std::vector<document>& docs) {
      return dispatch<ok_atom>(self, self->state.workers, a, std::move(c), std::move(docs));
    },
    [=](get_atom a, std::string& c, std::string& id) -> caf::result<document> {
      if (self->state.direct_store) return direct_get(self, std::move(c), std::move(id));
      return dispatch<document>(self, self->state.workers, a, std::move(c), std::move(id));
    },
    [=](remove_atom a, std::string& c, std::string& id, uint64_t version) {
      return dispatch<bool>(self, self->state.workers, a, std::move(c), std::move(id), version);
    },
    [=](search_atom a, search_query& q) {
      return dispatch<std::vector<search_hit>>(self, self->state.workers, a, std::move(q));
    },
    [=](probe_atom a) { return dispatch<ok_atom>(self, self->state.workers, a); },
    [=](scan_atom a, scan_request& req) {
      return dispatch<std::vector<document>>(self, self->state.workers, a, std::move(req));
    },
    [=](versions_atom a, range_request& req) {
      return dispatch<std::vector<version_entry>>(self, self->state.workers, a, std::move(req));
    },
    [=](digest_atom a, range_request& req) {
      return dispatch<range_digest>(self, self->state.workers, a, std::move(req));
    },
    [=](purge_atom a, uint64_t up_to) {
      return dispatch<uint64_t>(self, self->state.workers, a, up_to);
    },
    [=](marker_atom a) { return dispatch<std::string>(self, self->state.workers, a); },
    [=](marker_atom a, std::string& marker) {
      return dispatch<ok_atom>(self, self->state.workers, a, std::move(marker));
    },
  };
}

} // namespace

backend_actor spawn_backend_actor(caf::actor_system& sys, std::shared_ptr<backend> store,
                                  backend_actor_options options) {
  bool detached = options.detached.value_or(store->blocking());
  if (!detached && worker_count(*store, options) == 1) return sys.spawn(worker, std::move(store));
  return sys.spawn(pool, std::move(store), options);
}

} // namespace lifeline
