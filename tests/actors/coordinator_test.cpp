// The fallback coordinator on CAF's deterministic scheduler: routing,
// fallback, fan-out, outage, circuit breaking and recovery.
#include "actors/errors.hpp"
#include "support/temp_dir.hpp"
#include "support/two_backends.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

TEST_CASE("reads go to the first backend in priority order", "[coordinator]") {
  two_backends f;
  f.seed_data();
  auto r = f.get("a");
  REQUIRE(r);
  CHECK(r->backend == "primary");
  CHECK(r->value.content == "A");
  CHECK(f.secondary->calls(operation::get) == 0);
  auto hits = f.search({0.9f, 0.9f}, 1);
  REQUIRE(hits);
  CHECK(hits->backend == "primary");
  REQUIRE(hits->value.size() == 1);
  CHECK(hits->value[0].id == "b");
}

TEST_CASE("writes fan out to every healthy backend with a per-backend receipt",
          "[coordinator]") {
  two_backends f;
  f.seed_data();
  auto w = f.upsert({"x", {2, 2}, "X", "{}", 0});
  REQUIRE(w);
  REQUIRE(w->backends.size() == 2);
  CHECK(w->backends[0].backend == "primary");
  CHECK(w->backends[0].outcome == write_outcome::applied);
  CHECK(w->backends[1].outcome == write_outcome::applied);
  CHECK(f.primary->get("c", "x"));
  CHECK(f.secondary->get("c", "x"));
}

TEST_CASE("one backend down: every request is served by the other with zero errors",
          "[coordinator]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::unavailable);
  for (int i = 0; i < 20; ++i) {
    auto r = f.get(i % 2 == 0 ? "a" : "b");
    REQUIRE(r);
    CHECK(r->backend == "secondary");
    auto hits = f.search({0, 0}, 2);
    REQUIRE(hits);
    CHECK(hits->backend == "secondary");
    CHECK(hits->value.size() == 2);
  }
  // A refused connection is certain: the circuit opened on the first failure,
  // so only that one request was tried on primary; the rest went straight
  // to secondary. Each is counted as a fallback, with why it moved.
  CHECK(f.metrics->fallbacks(operation::get, "primary", "secondary", fallback_reason::failed) == 1);
  CHECK(f.metrics->fallbacks(operation::get, "primary", "secondary",
                             fallback_reason::unhealthy) == 19);
  CHECK(f.metrics->fallbacks(operation::search, "primary", "secondary",
                             fallback_reason::unhealthy) == 20);
  CHECK(f.primary->calls(operation::get) == 1);
  CHECK(f.primary->calls(operation::search) == 0);
  CHECK(f.health_of("primary").circuit == circuit_state::open);
  CHECK(f.metrics->outages() == 0);
  // Every admitted request was answered, fallbacks included.
  CHECK(f.metrics->in_flight(operation::get) == 0);
  CHECK(f.metrics->in_flight(operation::search) == 0);
  SECTION("writes reach the healthy backend and say which one was skipped") {
    auto w = f.upsert({"y", {3, 3}, "Y", "{}", 0});
    REQUIRE(w);
    CHECK(w->applied() == 1);
    CHECK(w->backends[0].outcome == write_outcome::skipped);
    CHECK(w->backends[0].error.find("circuit open") != std::string::npos);
    CHECK(w->backends[1].outcome == write_outcome::applied);
  }
}

TEST_CASE("a failure that is not connection-level falls back on every request until the "
          "circuit opens",
          "[coordinator]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::error, operation::get);
  for (int i = 0; i < 5; ++i) {
    auto r = f.get("a");
    REQUIRE(r);
    CHECK(r->backend == "secondary");
  }
  // consecutive_failures = 3 in the test configuration.
  CHECK(f.primary->calls(operation::get) == 3);
  CHECK(f.metrics->fallbacks(operation::get, "primary", "secondary", fallback_reason::failed) == 3);
  CHECK(f.metrics->fallbacks(operation::get, "primary", "secondary",
                             fallback_reason::unhealthy) == 2);
  CHECK(f.metrics->calls(operation::get, "primary", call_outcome::failure) == 3);
  CHECK(f.health_of("primary").circuit == circuit_state::open);
}

TEST_CASE("all backends down: all_backends_unavailable names each backend's reason",
          "[coordinator]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::unavailable);
  f.secondary->inject(fault::error);
  auto r = f.get("a");
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::all_backends_unavailable));
  auto details = outage_of(r.error());
  REQUIRE(details);
  CHECK(details->operation == "get");
  REQUIRE(details->backends == std::vector<std::string>{"primary", "secondary"});
  CHECK(details->reasons[0].find("connection refused") != std::string::npos);
  CHECK(details->reasons[1].find("server error") != std::string::npos);
  CHECK(f.metrics->outages(operation::get) == 1);
  CHECK(f.metrics->in_flight(operation::get) == 0); // outages are answered too
  SECTION("open circuits are not waited on: the next outage is answered at once") {
    f.secondary->inject(fault::unavailable);
    f.get("a"); // opens secondary's circuit
    auto calls_before = f.primary->calls(operation::get) + f.secondary->calls(operation::get);
    auto again = f.get("a");
    REQUIRE_FALSE(again);
    CHECK(is(again.error(), errc::all_backends_unavailable));
    CHECK(f.primary->calls(operation::get) + f.secondary->calls(operation::get) == calls_before);
    CHECK(outage_of(again.error())->reasons[0].find("circuit open") != std::string::npos);
  }
  SECTION("a write that reaches no backend is an outage, not a receipt") {
    auto w = f.upsert({"z", {1, 2}, "", "", 0});
    REQUIRE_FALSE(w);
    CHECK(is(w.error(), errc::all_backends_unavailable));
  }
}

TEST_CASE("client errors are answers: no fallback, no circuit change", "[coordinator]") {
  two_backends f;
  f.seed_data();
  for (int i = 0; i < 5; ++i) {
    auto r = f.get("missing");
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::not_found));
  }
  auto bad = f.search({1, 2, 3}, 1); // wrong dimension
  REQUIRE_FALSE(bad);
  CHECK(is(bad.error(), errc::invalid_argument));
  CHECK(f.secondary->calls(operation::get) == 0);
  CHECK(f.metrics->fallbacks() == 0);
  CHECK(f.metrics->calls(operation::get, "primary", call_outcome::client_error) == 5);
  CHECK(f.health_of("primary").circuit == circuit_state::closed);
  SECTION("a write refused by every backend returns the client error") {
    auto w = f.upsert({"", {1, 1}, "", "", 0});
    REQUIRE_FALSE(w);
    CHECK(is(w.error(), errc::invalid_argument));
  }
}

TEST_CASE("corrupt data is never served: the backend crashes and the read falls over",
          "[coordinator]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::corrupt, operation::get);
  auto r = f.get("a");
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  CHECK(r->value.id == "a");
  CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  SECTION("search results out of order count as corrupt too") {
    f.advance(100ms); // primary restarts
    f.primary->inject(fault::corrupt, operation::search);
    auto hits = f.search({0, 0}, 2);
    REQUIRE(hits);
    CHECK(hits->backend == "secondary");
    CHECK(hits->value[0].id == "a");
    CHECK(hits->value[1].id == "b");
  }
}

TEST_CASE("an incapable backend is skipped without counting a fallback", "[coordinator]") {
  two_backends f;
  f.seed_data();
  // Capabilities are read when a backend (re)starts: narrow them, then make
  // primary crash once so that its supervisor restarts it.
  f.primary->restrict_to(capabilities::all().without(operation::search));
  f.primary->inject(fault::throw_exception, operation::get);
  REQUIRE(f.get("a")->backend == "secondary");
  f.advance(100ms);
  REQUIRE(f.health_of("primary").lifecycle == lifecycle_state::up);
  f.primary->clear();
  auto hits = f.search({0, 0}, 1);
  REQUIRE(hits);
  CHECK(hits->backend == "secondary");
  CHECK(f.primary->calls(operation::search) == 0);
  CHECK(f.metrics->fallbacks(operation::search, "primary", "secondary") == 0);
  auto doc = f.get("a");
  REQUIRE(doc);
  CHECK(doc->backend == "primary");
  SECTION("when no backend supports an operation, the answer is unsupported") {
    f.secondary->restrict_to(capabilities::all().without(operation::search));
    f.secondary->inject(fault::throw_exception, operation::get);
    REQUIRE(f.primary->get("c", "a"));
    f.primary->inject(fault::unavailable, operation::get);
    f.get("a"); // both fail: secondary crashes and restarts
    f.advance(100ms);
    auto none = f.search({0, 0}, 1);
    REQUIRE_FALSE(none);
    CHECK(is(none.error(), errc::unsupported));
    CHECK(f.metrics->outages(operation::search) == 0);
  }
}

TEST_CASE("a failing probe opens the circuit before any request fails", "[coordinator]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::unavailable);
  f.advance(10s); // probe interval
  CHECK(f.health_of("primary").circuit == circuit_state::open);
  auto r = f.get("a");
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  CHECK(f.primary->calls(operation::get) == 0);
  // Not tried, but not its first choice: a fallback, because primary is
  // unhealthy (what an operator watching the fallbacks wants to see).
  CHECK(f.metrics->fallbacks() == 1);
  CHECK(f.metrics->fallbacks(operation::get, "primary", "secondary",
                             fallback_reason::unhealthy) == 1);
}

TEST_CASE("recovery: a backend comes back into rotation through half-open trials",
          "[coordinator]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::unavailable);
  REQUIRE(f.get("a")->backend == "secondary");
  REQUIRE(f.health_of("primary").circuit == circuit_state::open);
  f.primary->clear();
  f.advance(4s);
  CHECK(f.get("a")->backend == "secondary"); // still open
  f.advance(1s);
  CHECK(f.health_of("primary").circuit == circuit_state::half_open);
  CHECK(f.get("a")->backend == "primary"); // trial 1
  CHECK(f.health_of("primary").circuit == circuit_state::half_open);
  CHECK(f.get("a")->backend == "primary"); // trial 2 closes it
  CHECK(f.health_of("primary").circuit == circuit_state::closed);
  CHECK(f.metrics->circuit_transitions("primary", circuit_state::closed) == 1);
}

TEST_CASE("recovery: a successful probe half-opens an open circuit early", "[coordinator]") {
  auto faster_probes = [](runtime_config& c) {
    c.coordinator.probe_interval = 2s;
    c.coordinator.circuit.open_duration = 60s;
  };
  two_backends f{faster_probes};
  f.seed_data();
  f.primary->inject(fault::unavailable);
  REQUIRE(f.get("a")->backend == "secondary");
  f.primary->clear();
  f.advance(2s);
  CHECK(f.health_of("primary").circuit == circuit_state::half_open);
  CHECK(f.get("a")->backend == "primary");
}

TEST_CASE("a failed trial reopens the circuit", "[coordinator]") {
  two_backends f;
  f.seed_data();
  f.primary->inject(fault::unavailable);
  f.get("a");
  f.advance(5s);
  REQUIRE(f.health_of("primary").circuit == circuit_state::half_open);
  auto r = f.get("a");
  REQUIRE(r);
  CHECK(r->backend == "secondary");
  CHECK(f.health_of("primary").circuit == circuit_state::open);
  CHECK(f.metrics->circuit_transitions("primary", circuit_state::open) == 2);
}

TEST_CASE("health reports lifecycle, circuit and last error", "[coordinator]") {
  two_backends f;
  auto report = f.ask<health_report>(f.coordinator(), health_atom::value);
  REQUIRE(report);
  REQUIRE(report->backends.size() == 2);
  CHECK(report->serving() == 2);
  CHECK(report->backends[0].kind == "memory");
  CHECK(report->backends[0].lifecycle == lifecycle_state::up);
  f.primary->inject(fault::unavailable);
  f.advance(10s);
  auto h = f.health_of("primary");
  CHECK_FALSE(h.serving);
  CHECK(h.last_error.find("connection refused") != std::string::npos);
}

TEST_CASE("a backend that prefers an operation serves it first, fallback still follows",
          "[coordinator]") {
  two_backends f;
  f.seed_data();
  // Preferences are read when a backend (re)starts: restart secondary.
  f.secondary->prefer(capabilities{}.with(operation::search));
  f.secondary->inject(fault::throw_exception, operation::get);
  f.primary->inject(fault::unavailable, operation::get);
  f.get("a"); // secondary crashes and restarts with its preference
  f.advance(100ms);
  f.primary->clear();
  f.secondary->clear();
  f.advance(5s); // primary's circuit half-opens
  f.get("a");
  f.get("a"); // and closes
  REQUIRE(f.health_of("primary").circuit == circuit_state::closed);
  auto hits = f.search({0, 0}, 1);
  REQUIRE(hits);
  CHECK(hits->backend == "secondary"); // preferred for search
  CHECK(f.get("a")->backend == "primary"); // configured order for the rest
  f.secondary->inject(fault::unavailable, operation::search);
  auto fallback = f.search({0, 0}, 1);
  REQUIRE(fallback);
  CHECK(fallback->backend == "primary");
  CHECK(f.metrics->fallbacks(operation::search, "secondary", "primary") == 1);
}

// -- damaged documents (GitHub issue 11) ----------------------------------------

TEST_CASE("a damaged document on one backend: the read falls over, the backend stays up "
          "with its circuit closed",
          "[coordinator][values]") {
  two_backends f;
  f.seed_data();
  f.primary->damage_document("a"); // its vector comes back as [inf, inf]
  for (int i = 0; i < 5; ++i) { // more than consecutive_failures = 3
    auto r = f.get("a");
    REQUIRE(r);
    CHECK(r->backend == "secondary");
    CHECK(r->value.vector == std::vector<float>{0, 0});
  }
  auto h = f.health_of("primary");
  CHECK(h.lifecycle == lifecycle_state::up);
  CHECK(h.circuit == circuit_state::closed);
  CHECK(h.last_error.empty());
  CHECK(f.metrics->restarts("primary") == 0);
  CHECK(f.metrics->calls(operation::get, "primary", call_outcome::damaged_document) == 5);
  CHECK(f.metrics->calls(operation::get, "primary", call_outcome::failure) == 0);
  CHECK(f.metrics->fallbacks(operation::get, "primary", "secondary", fallback_reason::failed) == 5);
  CHECK(f.metrics->in_flight(operation::get) == 0);
  // The backend serves its other documents.
  auto b = f.get("b");
  REQUIRE(b);
  CHECK(b->backend == "primary");
  SECTION("a search leaves the damaged hit out instead of failing") {
    auto hits = f.search({0, 0}, 2);
    REQUIRE(hits);
    CHECK(hits->backend == "primary");
    REQUIRE(hits->value.size() == 1);
    CHECK(hits->value[0].id == "b");
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::up);
    CHECK(f.metrics->fallbacks(operation::search, "primary", "secondary") == 0);
  }
  SECTION("damaged on every backend: an error naming the document, not an outage") {
    f.secondary->damage_document("a");
    for (int i = 0; i < 5; ++i) {
      auto r = f.get("a");
      REQUIRE_FALSE(r);
      CHECK(is(r.error(), errc::corrupt_document));
      auto text = describe(r.error());
      CHECK(text.find("document 'a' in 'c'") != std::string::npos);
      CHECK(text.find("non-finite") != std::string::npos);
    }
    CHECK(f.metrics->outages() == 0);
    CHECK(f.metrics->in_flight(operation::get) == 0);
    for (auto name : {"primary", "secondary"}) {
      auto hb = f.health_of(name);
      CHECK(hb.lifecycle == lifecycle_state::up);
      CHECK(hb.circuit == circuit_state::closed);
      CHECK(f.metrics->restarts(name) == 0);
    }
    CHECK(f.get("b")->backend == "primary");
  }
  SECTION("damaged on one, missing on the next: the damage is reported, not a 404") {
    auto removed = f.secondary->inner().remove("c", "a", uint64_t(INT64_MAX));
    REQUIRE(removed);
    REQUIRE(*removed);
    REQUIRE_FALSE(f.secondary->inner().get("c", "a"));
    auto r = f.get("a");
    INFO((r ? r->backend + " " + r->value.id : describe(r.error())));
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::corrupt_document));
  }
  SECTION("structural breaks still crash the backend") {
    f.primary->inject(fault::corrupt, operation::get);
    auto r = f.get("b");
    REQUIRE(r);
    CHECK(r->backend == "secondary");
    CHECK(f.health_of("primary").lifecycle == lifecycle_state::restarting);
  }
}

TEST_CASE("a rebuild skips documents the target refuses or that are damaged, and finishes",
          "[coordinator][values]") {
  temp_dir dir;
  two_backends f{[&dir](runtime_config& cfg) {
    cfg.coordinator.handoff_dir = dir.path() + "/handoff";
    cfg.coordinator.detached_io = false;
    cfg.coordinator.recovery_page = 2; // a refused page is retried one by one
  }};
  f.seed_data();
  for (int i = 0; i < 5; ++i)
    REQUIRE(f.upsert({"d" + std::to_string(i), {float(i), float(i)}, "", "{}", 0}));
  // The primary (the peer) now returns d1 with a vector every backend
  // refuses, d3 with a non-finite one.
  f.primary->damage_document("d1", 1e20f);
  f.primary->damage_document("d3");
  // The secondary's database comes back empty: it is rebuilt from the primary.
  f.secondary->replace_inner(std::make_shared<memory_backend>());
  REQUIRE(f.ask<ok_atom>(f.coordinator(), restart_atom::value, std::string{"secondary"}));
  f.advance(100ms);
  auto h = f.health_of("secondary");
  CHECK(h.replica == replica_state::in_sync);
  CHECK(h.rebuilt == 5); // a, b, d0, d2, d4
  CHECK(f.metrics->replica_transitions("secondary", replica_state::rebuilding) == 2);
  for (auto id : {"a", "b", "d0", "d2", "d4"}) CHECK(f.secondary->inner().get("c", id));
  for (auto id : {"d1", "d3"})
    CHECK(f.secondary->inner().get("c", id).error().kind == errc::not_found);
  CHECK(f.metrics->rebuild_skipped("secondary") == 2);
  // Nothing loops: later probes start no other rebuild.
  f.advance(30s);
  CHECK(f.health_of("secondary").replica == replica_state::in_sync);
  CHECK(f.metrics->replica_transitions("secondary", replica_state::rebuilding) == 2);
}
