// Hedged reads and latency outliers on CAF's deterministic scheduler: backends
// that hold gets until the test releases them, so "slow" is the test clock
// moving while a reply is held, and every outcome is decided by the order
// of events, not by timing.
#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"
#include "actors/errors.hpp"
#include "backends/memory_backend.hpp"
#include "health/hedge_budget.hpp"
#include "metrics/counting_metrics.hpp"
#include "support/test_system.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

/// What the test tells a gate backend to do, and what it saw.
struct gate_control {
  bool hold = false; ///< Hold gets until a probe releases them.
  bool fail = false; ///< Fail gets at once (backend_unavailable).
  int gets = 0;      ///< Gets received.
};

struct gate_state {
  std::shared_ptr<gate_control> ctl;
  std::shared_ptr<memory_backend> store;
  std::vector<std::pair<caf::typed_response_promise<document>, document>> held;
  static inline const char* name = "gate";
};

/// A memory backend whose gets can be held (a probe releases them) or failed.
backend_actor::behavior_type gate(backend_actor::stateful_pointer<gate_state> self,
                                  std::shared_ptr<gate_control> ctl, std::string content) {
  self->state.ctl = ctl;
  self->state.store = std::make_shared<memory_backend>();
  self->state.store->create_collection({"c", 2, metric::l2});
  self->state.store->upsert("c", {{"a", {1, 1}, content, "", 0}});
  auto no = [] { return caf::error{errc::unsupported, std::string{"gate"}}; };
  return {
    [=](create_atom, const collection_spec&) -> caf::result<bool> { return no(); },
    [=](drop_atom, const std::string&) -> caf::result<ok_atom> { return no(); },
    [=](list_atom) -> caf::result<std::vector<collection_spec>> { return no(); },
    [=](stats_atom, const std::string&) -> caf::result<collection_stats> { return no(); },
    [=](upsert_atom, const std::string&, const std::vector<document>&) -> caf::result<ok_atom> {
      return no();
    },
    [=](get_atom, const std::string& c, const std::string& id) -> caf::result<document> {
      auto& st = self->state;
      ++st.ctl->gets;
      if (st.ctl->fail) return caf::error{errc::backend_unavailable, std::string{"gate down"}};
      auto doc = st.store->get(c, id);
      if (!doc) return caf::error{errc::not_found, id};
      if (!st.ctl->hold) return *doc;
      auto rp = self->make_response_promise<document>();
      st.held.emplace_back(rp, *doc);
      return rp;
    },
    [=](remove_atom, const std::string&, const std::string&, uint64_t) -> caf::result<bool> {
      return no();
    },
    [=](scan_atom, const scan_request&) -> caf::result<std::vector<document>> { return no(); },
    [=](versions_atom, const range_request&) -> caf::result<std::vector<version_entry>> {
      return no();
    },
    [=](digest_atom, const range_request&) -> caf::result<range_digest> { return no(); },
    [=](purge_atom, uint64_t) -> caf::result<uint64_t> { return no(); },
    [=](marker_atom) -> caf::result<std::string> { return no(); },
    [=](marker_atom, const std::string&) -> caf::result<ok_atom> { return no(); },
    [=](search_atom, const search_query&) -> caf::result<std::vector<search_hit>> { return no(); },
    [=](probe_atom) -> caf::result<ok_atom> {
      for (auto& [rp, doc] : self->state.held) rp.deliver(doc);
      self->state.held.clear();
      return ok_atom::value;
    },
  };
}

struct fixture : test_system {
  std::shared_ptr<counting_metrics> metrics = std::make_shared<counting_metrics>();
  std::shared_ptr<hedge_budget> budget;
  coordinator_actor coordinator;
  std::vector<std::string> names;
  std::vector<std::shared_ptr<gate_control>> ctl;
  std::vector<backend_actor> gates;

  /// Backends "a", "b" (and "c"), in that order; each read earns
  /// `percent` / 100 of a hedge, at most `burst` saved.
  explicit fixture(size_t n = 2, double percent = 100, uint32_t burst = 100) {
    budget = std::make_shared<hedge_budget>(percent, burst);
    coordinator_config cfg;
    cfg.backend_max_in_flight = 0;
    names = std::vector<std::string>{"a", "b", "c"};
    names.resize(n);
    cfg.backends = names;
    cfg.attempt_timeout = 1s;
    cfg.request_timeout = 5s;
    cfg.probe_interval = 1h; // no probes during the test
    cfg.metrics = metrics;
    cfg.seed = 1;
    cfg.hedges = budget;
    cfg.hedge_min_delay = 1ms;
    cfg.latency.min_samples = 5;
    cfg.latency.refresh_every = 1;
    cfg.latency.max_age = 10s;
    cfg.outliers.factor = 5;
    cfg.outliers.floor = 20ms;
    coordinator = spawn_coordinator(sys(), cfg);
    for (auto& name : names) {
      ctl.push_back(std::make_shared<gate_control>());
      gates.push_back(sys().spawn(gate, ctl.back(), "from " + name));
      announce(name, gates.back());
    }
    run();
  }

  ~fixture() {
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
    for (auto& g : gates) caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
    run();
  }

  void announce(const std::string& name, backend_actor handle, capabilities preferred = {}) {
    lifecycle_event ev;
    ev.preferred = preferred.bits();
    ev.backend = name;
    ev.kind = "gate";
    ev.state = lifecycle_state::up;
    ev.capabilities = capabilities::all().bits();
    ev.handle = std::move(handle);
    caf::anon_send(coordinator, lifecycle_atom::value, ev);
  }

  pending<served<document>> get() {
    auto p = send<served<document>>(coordinator, get_atom::value, std::string{"c"},
                                    std::string{"a"});
    run();
    return p;
  }

  void release(size_t i) {
    ask<ok_atom>(gates[i], probe_atom::value);
    run();
  }

  /// `n` reads served by backend #i, each answered after `latency`.
  void warm(size_t i, int n, std::chrono::milliseconds latency) {
    ctl[i]->hold = true;
    for (int k = 0; k < n; ++k) {
      auto r = get();
      advance(latency);
      release(i);
      auto reply = r.poll();
      REQUIRE(reply);
      REQUIRE(*reply);
      REQUIRE((*reply)->backend == names[i]);
    }
    ctl[i]->hold = false;
  }

  /// The backend that served one read answered at once.
  std::string served_by() {
    auto r = get();
    auto reply = r.poll();
    REQUIRE(reply);
    REQUIRE(*reply);
    return (*reply)->backend;
  }
};

} // namespace

TEST_CASE("hedging: a read slower than its backend's p95 is hedged, the first answer wins",
          "[coordinator][hedging]") {
  fixture f;
  f.warm(0, 5, 10ms); // a's p95 for get: 10 ms
  f.ctl[0]->hold = true;
  auto r = f.get();
  f.advance(9ms);
  CHECK_FALSE(r.poll());
  CHECK(f.ctl[1]->gets == 0);
  f.advance(1ms); // a's p95: the read goes to b too, which answers at once
  CHECK(f.ctl[1]->gets == 1);
  auto reply = r.poll();
  REQUIRE(reply);
  REQUIRE(*reply);
  CHECK((*reply)->backend == "b");
  CHECK((*reply)->value.content == "from b");
  CHECK(f.metrics->hedges(operation::get, "b") == 1);
  CHECK(f.metrics->hedges_won(operation::get, "b") == 1);
  CHECK(f.metrics->fallbacks() == 0);
  // a's late answer is ignored: no second reply; its call still counts.
  f.release(0);
  CHECK_FALSE(r.poll());
  CHECK(f.metrics->calls(operation::get, "a", call_outcome::success) == 6);
  CHECK(f.metrics->calls(operation::get, "b", call_outcome::success) == 1);
  CHECK(f.metrics->in_flight(operation::get) == 0);
}

TEST_CASE("hedging: when the first backend answers before the hedge, its answer wins",
          "[coordinator][hedging]") {
  fixture f;
  f.warm(0, 5, 10ms);
  f.ctl[0]->hold = true;
  f.ctl[1]->hold = true;
  auto r = f.get();
  f.advance(10ms);
  CHECK(f.ctl[1]->gets == 1); // hedged, and b holds it too
  f.release(0);
  auto reply = r.poll();
  REQUIRE(reply);
  REQUIRE(*reply);
  CHECK((*reply)->backend == "a");
  CHECK(f.metrics->hedges(operation::get, "b") == 1);
  CHECK(f.metrics->hedges_won(operation::get, "b") == 0);
  f.release(1); // b's late answer is ignored
  CHECK_FALSE(r.poll());
  CHECK(f.metrics->calls(operation::get, "b", call_outcome::success) == 1);
}

TEST_CASE("hedging: no hedge without enough samples", "[coordinator][hedging]") {
  fixture f;
  f.warm(0, 4, 10ms); // one short of min_samples
  f.ctl[0]->hold = true;
  auto r = f.get();
  f.advance(500ms);
  CHECK_FALSE(r.poll());
  CHECK(f.ctl[1]->gets == 0);
  f.release(0);
  auto reply = r.poll();
  REQUIRE(reply);
  REQUIRE(*reply);
  CHECK((*reply)->backend == "a");
  CHECK(f.metrics->hedges(operation::get, "b") == 0);
}

TEST_CASE("hedging: the budget stops hedges", "[coordinator][hedging]") {
  // Half a hedge per read, at most one saved: the 5 warm-up reads fill it.
  fixture f{2, 50, 1};
  f.warm(0, 5, 10ms);
  f.ctl[0]->hold = true;
  auto first = f.get(); // spends the saved hedge
  f.advance(10ms);
  CHECK(f.ctl[1]->gets == 1);
  auto r1 = first.poll();
  REQUIRE(r1);
  CHECK((*r1)->backend == "b");
  auto second = f.get(); // half a hedge: none
  f.advance(10ms);
  CHECK(f.ctl[1]->gets == 1);
  CHECK_FALSE(second.poll());
  f.advance(990ms); // so it falls over at the attempt deadline instead
  CHECK(f.ctl[1]->gets == 2);
  auto r2 = second.poll();
  REQUIRE(r2);
  REQUIRE(*r2);
  CHECK((*r2)->backend == "b");
  CHECK(f.metrics->hedges(operation::get, "b") == 1);
  CHECK(f.metrics->fallbacks(operation::get, "a", "b") == 1);
}

TEST_CASE("hedging: a hedge goes only to a backend that serves reads", "[coordinator][hedging]") {
  fixture f{3};
  f.warm(0, 5, 10ms);
  // b stopped: out of the read order, like a backend that is not in sync
  // (both are read_blockers, see eligibility_test.cpp; read_order keeps
  // only slots that serve_reads).
  lifecycle_event ev;
  ev.backend = "b";
  ev.state = lifecycle_state::stopped;
  caf::anon_send(f.coordinator, lifecycle_atom::value, ev);
  f.run();
  f.ctl[0]->hold = true;
  auto r = f.get();
  f.advance(10ms);
  CHECK(f.ctl[1]->gets == 0);
  CHECK(f.ctl[2]->gets == 1);
  auto reply = r.poll();
  REQUIRE(reply);
  REQUIRE(*reply);
  CHECK((*reply)->backend == "c");
  CHECK(f.metrics->hedges(operation::get, "c") == 1);
  f.release(0);
}

TEST_CASE("hedging: fallback on a failure still works", "[coordinator][hedging]") {
  fixture f;
  f.warm(0, 5, 10ms);
  f.ctl[0]->fail = true;
  CHECK(f.served_by() == "b");
  CHECK(f.metrics->fallbacks(operation::get, "a", "b") == 1);
  CHECK(f.metrics->hedges(operation::get, "b") == 0);
}

TEST_CASE("hedging: a slow hedge does not stop the fallback when the first backend fails",
          "[coordinator][hedging]") {
  fixture f{3};
  f.warm(0, 5, 10ms);
  f.ctl[0]->hold = true;
  f.ctl[1]->hold = true;
  auto r = f.get();
  f.advance(10ms); // hedged to b, which holds it too
  CHECK(f.ctl[1]->gets == 1);
  f.advance(990ms); // a misses its attempt deadline: c gets the read
  CHECK(f.ctl[2]->gets == 1);
  auto reply = r.poll();
  REQUIRE(reply);
  REQUIRE(*reply);
  CHECK((*reply)->backend == "c");
  f.release(0);
  f.release(1);
  CHECK_FALSE(r.poll());
}

TEST_CASE("hedging: a backend far slower than its peer is demoted, then promoted",
          "[coordinator][hedging]") {
  fixture f;
  f.warm(0, 5, 200ms); // a: p95 200 ms
  CHECK(f.ctl[1]->gets == 0);
  // Five reads hedged to b, which answers in 1 ms... a answers later.
  f.ctl[0]->hold = true;
  for (int k = 0; k < 5; ++k) {
    auto r = f.get();
    f.advance(200ms);
    auto reply = r.poll();
    REQUIRE(reply);
    CHECK((*reply)->backend == "b");
  }
  f.release(0);
  f.ctl[0]->hold = false;
  // b's p95 is about 0: a (200 ms, over 5 x and over 20 ms) is demoted.
  CHECK(f.metrics->is_demoted(operation::get, "a"));
  CHECK(f.metrics->demotions(operation::get, "a") == 1);
  auto a_gets = f.ctl[0]->gets;
  CHECK(f.served_by() == "b");
  CHECK(f.ctl[0]->gets == a_gets); // b first now
  // A slow read on b is not hedged to the demoted a (it would not win).
  f.ctl[1]->hold = true;
  auto slow = f.get();
  f.advance(100ms);
  CHECK(f.ctl[0]->gets == a_gets);
  f.release(1);
  f.ctl[1]->hold = false;
  auto slow_reply = slow.poll();
  REQUIRE(slow_reply);
  CHECK((*slow_reply)->backend == "b");
  // Only for gets: searches still go to a first (no samples for search).
  // Once a's slow samples are older than max_age, it is promoted back.
  f.advance(11s);
  CHECK(f.served_by() == "a");
  CHECK_FALSE(f.metrics->is_demoted(operation::get, "a"));
}

TEST_CASE("hedging: a read on a backend that prefers it is not hedged to one that does not",
          "[coordinator][hedging]") {
  fixture f;
  // a prefers gets (as the vector store prefers searches): b, which does
  // not, gets no hedge of them.
  f.announce("a", f.gates[0], capabilities{}.with(operation::get));
  f.run();
  f.warm(0, 5, 10ms);
  f.ctl[0]->hold = true;
  auto r = f.get();
  f.advance(100ms);
  CHECK(f.ctl[1]->gets == 0);
  CHECK(f.metrics->hedges(operation::get, "b") == 0);
  f.release(0);
  auto reply = r.poll();
  REQUIRE(reply);
  REQUIRE(*reply);
  CHECK((*reply)->backend == "a");
}
