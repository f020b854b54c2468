// The direct read path (actors/direct_reads.hpp) against a real runtime:
// reads follow the coordinator's routing snapshot, and everything the
// snapshot does not settle goes back to the coordinator. Stores answer in
// place, fail, or are parked until the test lets them answer
// (support/parked_store.hpp): no timing decides an outcome.
#include "actors/direct_reads.hpp"
#include "actors/errors.hpp"
#include "actors/routing_snapshot.hpp"
#include "actors/runtime.hpp"
#include "api/coordinator_client.hpp"
#include "metrics/counting_metrics.hpp"

#include "support/eventually.hpp"
#include "support/parked_store.hpp"
#include "support/scoped_ask.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <future>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<parked_store> primary = std::make_shared<parked_store>();
  std::shared_ptr<parked_store> secondary = std::make_shared<parked_store>();
  std::shared_ptr<counting_metrics> metrics = std::make_shared<counting_metrics>();
  runtime rt;
  std::unique_ptr<coordinator_client> client;
  std::unique_ptr<direct_reads> reads;

  explicit fixture(std::chrono::milliseconds attempt_timeout = 60s,
                   std::chrono::milliseconds request_timeout = 120s) {
    runtime_config rc;
    rc.backends.push_back({"primary", shared_instance(primary)});
    rc.backends.push_back({"secondary", shared_instance(secondary)});
    rc.coordinator.attempt_timeout = attempt_timeout;
    rc.coordinator.request_timeout = request_timeout;
    rc.coordinator.probe_interval = 1h;
    rc.metrics = metrics;
    rt = spawn_runtime(sys, rc);
    REQUIRE(rt.await_ready(sys));
    client = std::make_unique<coordinator_client>(sys, rt.coordinator);
    reads = std::make_unique<direct_reads>(
      rt.routes, [c = client.get()](direct_reads::job j) { c->submit(std::move(j)); }, request_timeout);
    caf::scoped_actor self{sys};
    REQUIRE(ask<write_receipt>(self, rt.coordinator, create_atom::value,
                               collection_spec{"c", 2, metric::l2})->applied() == 2);
    REQUIRE(ask<write_receipt>(self, rt.coordinator, upsert_atom::value, std::string{"c"},
                               std::vector<document>{{"a", {1, 2}, "A", "{}", 0}})
              ->applied() == 2);
    REQUIRE(eventually([&] { return route_of(operation::get) == "primary"; }));
  }

  ~fixture() {
    reads.reset();
    client.reset();
    rt.stop();
  }

  std::string route_of(operation op) const {
    auto snap = rt.routes->load();
    auto& routes = snap->routes(op);
    return routes.empty() ? "" : routes.front().name;
  }

  /// Starts a get; the future holds its one answer (a second would throw).
  std::future<caf::expected<served<document>>> get(std::string id, std::shared_ptr<int> answers = {}) {
    auto p = std::make_shared<std::promise<caf::expected<served<document>>>>();
    auto f = p->get_future();
    reads->get("c", std::move(id), [p, answers](caf::expected<served<document>> r) {
      if (answers) ++*answers;
      p->set_value(std::move(r));
    });
    return f;
  }

  static caf::expected<served<document>> wait(std::future<caf::expected<served<document>>> f) {
    REQUIRE(f.wait_for(60s) == std::future_status::ready);
    return f.get();
  }
};

} // namespace

TEST_CASE("a direct get follows the snapshot to the first backend, without the coordinator",
          "[direct_reads][threads]") {
  fixture fx;
  auto r = fixture::wait(fx.get("a"));
  REQUIRE(r);
  CHECK(r->backend == "primary");
  CHECK(r->value.content == "A");
  CHECK(fx.primary->direct_calls() == 1);
  // Outcomes reach the coordinator in a batch: its metrics count the call.
  CHECK(eventually([&] { return fx.metrics->calls(operation::get, "primary", call_outcome::success) == 1; }));
  // Not found from a backend in sync is the answer: no fallback.
  auto missing = fixture::wait(fx.get("nope"));
  REQUIRE_FALSE(missing);
  CHECK(is(missing.error(), errc::not_found));
  CHECK(fx.secondary->direct_calls() == 0);
  CHECK(fx.metrics->fallbacks() == 0);
}

TEST_CASE("the snapshot follows the coordinator: a held backend leaves it at once",
          "[direct_reads][threads]") {
  fixture fx;
  caf::scoped_actor self{fx.sys};
  REQUIRE(ask<ok_atom>(self, fx.rt.coordinator, hold_atom::value, std::string{"primary"}, true));
  // The coordinator publishes before it answers the hold.
  CHECK(fx.route_of(operation::get) == "secondary");
  auto r = fixture::wait(fx.get("a"));
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  CHECK(fx.primary->direct_calls() == 0);
  // Not its first choice: a fallback, because the first is held down.
  CHECK(eventually([&] {
    return fx.metrics->fallbacks(operation::get, "primary", "secondary",
                                 fallback_reason::unhealthy) == 1;
  }));
  REQUIRE(ask<ok_atom>(self, fx.rt.coordinator, hold_atom::value, std::string{"primary"}, false));
  CHECK(eventually([&] { return fx.route_of(operation::get) == "primary"; }));
}

TEST_CASE("a failed direct read goes to the coordinator, which records it and falls over",
          "[direct_reads][threads]") {
  fixture fx;
  fx.primary->set(parked_store::mode::fail);
  auto r = fixture::wait(fx.get("a"));
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  CHECK(r->value.content == "A");
  // The coordinator skipped the backend the direct path tried: the
  // primary saw one call, and the fallback is counted from it.
  CHECK(fx.primary->direct_calls() == 1);
  // Counted once the direct path reports which answer the caller got.
  CHECK(eventually([&] {
    return fx.metrics->fallbacks(operation::get, "primary", "secondary", fallback_reason::failed) == 1;
  }));
  CHECK(fx.metrics->fallbacks() == 1);
  CHECK(fx.metrics->calls(operation::get, "primary", call_outcome::failure) == 1);
}

TEST_CASE("a direct read past its attempt timeout is served by the next backend and the late answer is dropped",
          "[direct_reads][threads]") {
  // A short attempt timeout, so that the test does not wait long; the
  // outcome does not depend on it: the parked read cannot answer first.
  fixture fx{20ms};
  fx.primary->set(parked_store::mode::park);
  auto answers = std::make_shared<int>(0);
  auto r = fixture::wait(fx.get("a", answers));
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  REQUIRE(fx.primary->parked() == 1);
  fx.primary->release(); // the late answer: real data, but the read is answered already
  CHECK(*answers == 1);
  CHECK(fx.metrics->calls(operation::get, "primary", call_outcome::timeout) == 1);
  // One fallback, for the answer the caller got: the late one is not
  // counted. Both outcomes are reported after the caller has its answer
  // (the fallback's as the coordinator's reply is delivered), in no set order.
  CHECK(eventually([&] {
    return fx.metrics->calls(operation::get, "primary", call_outcome::success) == 1;
  }));
  CHECK(eventually([&] {
    return fx.metrics->fallbacks(operation::get, "primary", "secondary", fallback_reason::failed) == 1;
  }));
  CHECK(fx.metrics->fallbacks() == 1);
}

TEST_CASE("a direct read given up on is answered by its deadline while the store it tried still "
          "hangs", "[direct_reads][threads]") {
  // With the secondary held down the primary is the only backend left, so
  // the read gives up on it at the request's deadline (2 s) and goes to the
  // coordinator, which has nothing else; the parked primary would hold the
  // read until released.
  fixture fx{20ms, 2s};
  caf::scoped_actor self{fx.sys};
  REQUIRE(ask<ok_atom>(self, fx.rt.coordinator, hold_atom::value, std::string{"secondary"}, true));
  REQUIRE(fx.route_of(operation::get) == "primary");
  fx.primary->set(parked_store::mode::park);
  auto answers = std::make_shared<int>(0);
  auto f = fx.get("a", answers);
  REQUIRE(f.wait_for(60s) == std::future_status::ready); // the primary is still parked
  auto r = f.get();
  REQUIRE_FALSE(r); // the coordinator's outage, or its deadline
  CHECK_FALSE(is(r.error(), errc::not_found));
  CHECK(fx.primary->parked() == 1);
  fx.primary->release(); // its late answer is dropped
  CHECK(eventually([&] {
    return fx.metrics->calls(operation::get, "primary", call_outcome::success) == 1;
  }));
  CHECK(*answers == 1);
}

TEST_CASE("with every backend failing, a direct read answers the coordinator's outage error",
          "[direct_reads][threads]") {
  fixture fx;
  fx.primary->set(parked_store::mode::fail);
  fx.secondary->set(parked_store::mode::fail);
  caf::scoped_actor self{fx.sys};
  REQUIRE(ask<ok_atom>(self, fx.rt.coordinator, hold_atom::value, std::string{"secondary"}, true));
  auto r = fixture::wait(fx.get("a"));
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::all_backends_unavailable));
}

TEST_CASE("direct reads stop handing over once stopped", "[direct_reads][threads]") {
  fixture fx;
  fx.primary->set(parked_store::mode::fail);
  fx.reads->stop();
  auto r = fixture::wait(fx.get("a"));
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::backend_unavailable));
}

TEST_CASE("a slow direct read is hedged through the coordinator and the first answer wins",
          "[direct_reads][threads]") {
  fixture fx; // a 60 s attempt timeout: only a hedge can answer this read soon
  // Enough answered reads for a p95 and for budget (5% of reads).
  for (int i = 0; i < 60; ++i) REQUIRE(fixture::wait(fx.get("a")));
  REQUIRE(eventually([&] {
    auto snap = fx.rt.routes->load();
    return !snap->get.empty() && snap->get.front().hedge_after.count() > 0;
  }));
  fx.primary->set(parked_store::mode::park);
  auto answers = std::make_shared<int>(0);
  auto r = fixture::wait(fx.get("a", answers));
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  CHECK(r->value.content == "A");
  CHECK(fx.metrics->hedges(operation::get, "secondary") == 1);
  CHECK(eventually([&] { return fx.metrics->hedges_won(operation::get, "secondary") == 1; }));
  // The slow backend's own answer comes later and is dropped; it was not
  // given up on (no timeout counted), only outrun.
  REQUIRE(fx.primary->parked() == 1);
  fx.primary->release();
  CHECK(*answers == 1);
  CHECK(fx.metrics->calls(operation::get, "primary", call_outcome::timeout) == 0);
}
