// Attempt and request deadlines on CAF's deterministic scheduler: a backend
// actor that takes requests and does not answer (until told to, too late).
#include "actors/backend_actor.hpp"
#include "actors/coordinator.hpp"
#include "actors/errors.hpp"
#include "backends/memory_backend.hpp"
#include "metrics/counting_metrics.hpp"
#include "support/temp_dir.hpp"
#include "support/test_system.hpp"

#include <catch2/catch.hpp>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

struct silent_state {
  std::vector<caf::typed_response_promise<document>> held;
  std::vector<caf::typed_response_promise<ok_atom>> held_writes;
  static inline const char* name = "silent";
};

/// Holds every get without answering; a probe releases them (late).
backend_actor::behavior_type silent(backend_actor::stateful_pointer<silent_state> self) {
  auto no = [] { return caf::error{errc::unsupported, std::string{"silent"}}; };
  return {
    [=](create_atom, const collection_spec&) -> caf::result<bool> { return no(); },
    [=](drop_atom, const std::string&) -> caf::result<ok_atom> { return no(); },
    [=](list_atom) -> caf::result<std::vector<collection_spec>> { return no(); },
    [=](stats_atom, const std::string&) -> caf::result<collection_stats> { return no(); },
    [=](upsert_atom, const std::string&, const std::vector<document>&) -> caf::result<ok_atom> {
      auto rp = self->make_response_promise<ok_atom>();
      self->state.held_writes.push_back(rp);
      return rp;
    },
    [=](get_atom, const std::string&, const std::string&) -> caf::result<document> {
      auto rp = self->make_response_promise<document>();
      self->state.held.push_back(rp);
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
      for (auto& rp : self->state.held) rp.deliver(document{"a", {9, 9}, "LATE", "", 0});
      self->state.held.clear();
      return ok_atom::value;
    },
  };
}

struct fixture : test_system {
  std::shared_ptr<counting_metrics> metrics = std::make_shared<counting_metrics>();
  coordinator_actor coordinator;
  backend_actor hung;

  /// `with_memory`: a healthy in-memory backend second in line;
  /// `handoff_dir`: keep missed writes there.
  explicit fixture(bool with_memory, std::string handoff_dir = {},
                   std::chrono::milliseconds write_grace = 1s, uint32_t max_in_flight = 0) {
    coordinator_config cfg;
    cfg.backend_max_in_flight = max_in_flight;
    cfg.handoff_dir = std::move(handoff_dir);
    cfg.write_grace = write_grace;
    cfg.detached_io = false;
    cfg.backends = {"silent", "memory"};
    cfg.attempt_timeout = 1s;
    cfg.request_timeout = 5s;
    cfg.probe_interval = 1h; // no probes during the test
    cfg.metrics = metrics;
    cfg.seed = 1;
    coordinator = spawn_coordinator(sys(), cfg);
    hung = sys().spawn(silent);
    announce("silent", hung);
    if (with_memory) {
      auto store = std::make_shared<memory_backend>();
      store->create_collection({"c", 2, metric::l2});
      store->upsert("c", {{"a", {1, 1}, "A", "", 0}});
      announce("memory", spawn_backend_actor(sys(), store, {1, false}));
    } else {
      lifecycle_event ev;
      ev.backend = "memory";
      ev.state = lifecycle_state::stopped;
      caf::anon_send(coordinator, lifecycle_atom::value, ev);
    }
    run();
  }

  ~fixture() {
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(hung, caf::exit_reason::user_shutdown);
    run();
  }

  void announce(const std::string& name, backend_actor handle) {
    lifecycle_event ev;
    ev.backend = name;
    ev.kind = name;
    ev.state = lifecycle_state::up;
    ev.capabilities = capabilities::all().bits();
    ev.handle = std::move(handle);
    caf::anon_send(coordinator, lifecycle_atom::value, ev);
  }
};

} // namespace

TEST_CASE("a backend that does not answer misses its attempt deadline, the read falls over",
          "[coordinator][deadline]") {
  fixture f{true};
  auto reply = f.send<served<document>>(f.coordinator, get_atom::value, std::string{"c"},
                                        std::string{"a"});
  f.run();
  CHECK_FALSE(reply.poll()); // waiting on the silent backend
  f.advance(999ms);
  CHECK_FALSE(reply.poll());
  f.advance(1ms); // attempt_timeout
  auto r = reply.poll();
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->backend == "memory");
  CHECK((*r)->value.content == "A");
  CHECK(f.metrics->calls(operation::get, "silent", call_outcome::timeout) == 1);
  CHECK(f.metrics->fallbacks(operation::get, "silent", "memory") == 1);
  SECTION("the late reply is ignored") {
    f.ask<ok_atom>(f.hung, probe_atom::value); // releases the held get
    f.run();
    CHECK_FALSE(reply.poll()); // no second reply
    CHECK(f.metrics->calls(operation::get, "silent", call_outcome::success) == 0);
  }
}

TEST_CASE("the last candidate gets the rest of the request deadline, then a timeout error",
          "[coordinator][deadline]") {
  fixture f{false};
  auto reply = f.send<served<document>>(f.coordinator, get_atom::value, std::string{"c"},
                                        std::string{"a"});
  f.run();
  f.advance(1s);
  CHECK_FALSE(reply.poll()); // no attempt deadline: nobody to fall over to
  f.advance(3999ms);
  CHECK_FALSE(reply.poll());
  f.advance(1ms); // request_timeout = 5 s
  auto r = reply.poll();
  REQUIRE(r);
  REQUIRE_FALSE(*r);
  // The only capable backend failed: an outage naming it, with the timeout.
  auto details = outage_of(r->error());
  REQUIRE(details);
  CHECK(details->reasons[0].find("no reply within 5000 ms") != std::string::npos);
  CHECK(details->reasons[1].find("stopped") != std::string::npos);
}

TEST_CASE("once one backend applied a write, a failing one gets one attempt timeout more, and "
          "the write waits in its log", "[coordinator][deadline]") {
  temp_dir dir;
  fixture f{true, dir.path()};
  // Writes to the silent backend time out (its circuit is closed: each one
  // waits the whole request deadline) until its circuit opens after 5
  // failures; then it half-opens for trials.
  for (int i = 0; i < 5; ++i) {
    auto w = f.send<write_receipt>(f.coordinator, upsert_atom::value, std::string{"c"},
                                   std::vector<document>{{"w", {1, 1}, "", "", 0}});
    f.run();
    f.advance(5s);
    auto got = w.poll();
    REQUIRE(got);
    INFO((*got ? std::string{"ok"} : describe(got->error())));
    REQUIRE(*got);
  }
  f.advance(30s); // open -> half-open
  {
    auto h = f.ask<health_report>(f.coordinator, health_atom::value);
    REQUIRE(h);
    INFO("silent: " << to_string(h->backends[0].circuit) << " " << h->backends[0].last_error);
    CHECK(h->backends[0].circuit == circuit_state::half_open);
  }
  auto reply = f.send<write_receipt>(f.coordinator, upsert_atom::value, std::string{"c"},
                                     std::vector<document>{{"x", {2, 2}, "X", "", 0}});
  f.run();
  CHECK_FALSE(reply.poll()); // the memory store applied it; the silent one holds it
  f.advance(999ms);
  CHECK_FALSE(reply.poll());
  f.advance(1ms); // attempt_timeout, not the 5 s request deadline
  auto r = reply.poll();
  REQUIRE(r);
  REQUIRE(*r);
  REQUIRE((*r)->backends.size() == 2);
  CHECK((*r)->backends[0].backend == "silent");
  CHECK((*r)->backends[0].outcome == write_outcome::deferred);
  CHECK((*r)->backends[1].outcome == write_outcome::applied);
  CHECK(f.metrics->calls(operation::upsert, "silent", call_outcome::timeout) == 6);
}

TEST_CASE("a healthy backend that is slower than another gets the write grace, then the write "
          "waits in its log", "[coordinator][deadline]") {
  temp_dir dir;
  fixture f{true, dir.path(), 3s};
  auto reply = f.send<write_receipt>(f.coordinator, upsert_atom::value, std::string{"c"},
                                     std::vector<document>{{"x", {2, 2}, "X", "", 0}});
  f.run();
  f.advance(2999ms);
  CHECK_FALSE(reply.poll()); // its circuit is closed: the grace, not the attempt timeout
  f.advance(1ms);
  auto r = reply.poll();
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->backends[0].outcome == write_outcome::deferred);
}

TEST_CASE("without a handoff log a silent backend keeps the whole request deadline for writes",
          "[coordinator][deadline]") {
  fixture f{true};
  auto reply = f.send<write_receipt>(f.coordinator, upsert_atom::value, std::string{"c"},
                                     std::vector<document>{{"x", {2, 2}, "X", "", 0}});
  f.run();
  f.advance(4999ms);
  CHECK_FALSE(reply.poll());
  f.advance(1ms);
  auto r = reply.poll();
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->backends[0].outcome == write_outcome::failed);
  CHECK((*r)->backends[1].outcome == write_outcome::applied);
}

TEST_CASE("a backend at its bound of calls in flight: reads go past it, writes are shed, "
          "nothing queues, answered calls free their places",
          "[coordinator][deadline][overload]") {
  fixture f{true, {}, 1s, 2};
  auto get = [&] {
    return f.send<served<document>>(f.coordinator, get_atom::value, std::string{"c"}, std::string{"a"});
  };
  // Two gets hold the silent backend's two places...
  auto first = get(), second = get();
  f.run();
  CHECK_FALSE(first.poll());
  CHECK_FALSE(second.poll());
  // ...so the third goes straight to the next backend, without waiting.
  auto third = get();
  f.run();
  auto r = third.poll();
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->backend == "memory");
  CHECK(f.metrics->shed_count(operation::get, "silent") == 1);
  // Never sent there: it moved because the first choice was busy.
  CHECK(f.metrics->fallbacks(operation::get, "silent", "memory", fallback_reason::busy) == 1);
  CHECK(f.metrics->fallbacks(operation::get, "silent", "memory") == 1);
  // A write would have to reach the full backend: shed whole, at once.
  auto w = f.ask<write_receipt>(f.coordinator, upsert_atom::value, std::string{"c"},
                                std::vector<document>{{"b", {2, 2}, "B", "", 0}});
  REQUIRE_FALSE(w);
  CHECK(is(w.error(), errc::overloaded));
  CHECK(f.metrics->shed_count(operation::upsert, "silent") == 1);
  auto missing = f.ask<served<document>>(f.coordinator, get_atom::value, std::string{"c"}, std::string{"b"});
  REQUIRE_FALSE(missing);
  CHECK(is(missing.error(), errc::not_found)); // nothing was applied anywhere
  CHECK(f.metrics->shed_count(operation::get, "silent") == 2); // that read went past it too
  // The held gets time out (attempt deadline) and fall over, but their calls
  // still occupy the silent backend until it answers them.
  f.advance(1s);
  REQUIRE(first.poll());
  REQUIRE(second.poll());
  auto fourth = get();
  f.run();
  REQUIRE(fourth.poll());
  CHECK(f.metrics->shed_count(operation::get, "silent") == 3);
  // It answers (late): its places are free again and it gets the next read.
  f.ask<ok_atom>(f.hung, probe_atom::value);
  f.run();
  auto fifth = get();
  f.run();
  CHECK_FALSE(fifth.poll()); // held by the silent backend: it was sent there
  CHECK(f.metrics->shed_count(operation::get, "silent") == 3);
}

TEST_CASE("every backend that could serve is at its bound: the read is shed as overloaded, "
          "not an outage", "[coordinator][deadline][overload]") {
  fixture f{false, {}, 1s, 1};
  auto first = f.send<served<document>>(f.coordinator, get_atom::value, std::string{"c"}, std::string{"a"});
  f.run();
  CHECK_FALSE(first.poll());
  auto second = f.ask<served<document>>(f.coordinator, get_atom::value, std::string{"c"}, std::string{"a"});
  REQUIRE_FALSE(second);
  CHECK(is(second.error(), errc::overloaded));
  CHECK(f.metrics->outages() == 0);
  CHECK(f.metrics->in_flight(operation::get) == 1); // only the held one
}

TEST_CASE("health says a half-open backend serves exactly while routing would give it a read",
          "[coordinator][deadline][eligibility]") {
  fixture f{true};
  auto get = [&] {
    return f.send<served<document>>(f.coordinator, get_atom::value, std::string{"c"},
                                    std::string{"a"});
  };
  auto silent_serving = [&] {
    auto h = f.ask<health_report>(f.coordinator, health_atom::value);
    REQUIRE(h);
    return h->backends.at(0).serving;
  };
  // Five reads miss their attempt deadline on the silent backend and fall
  // over to memory: its circuit opens.
  for (int i = 0; i < 5; ++i) {
    auto r = get();
    f.run();
    f.advance(1s);
    auto got = r.poll();
    REQUIRE(got);
    REQUIRE(*got);
    CHECK((*got)->backend == "memory");
  }
  CHECK_FALSE(silent_serving());
  f.advance(5s); // open -> half-open: two trial slots
  CHECK(silent_serving());
  // Each trial read goes to the silent backend (no answer yet) while health
  // says it serves; once both slots are taken, health says it does not, and
  // the next read goes straight to memory.
  std::vector<decltype(get())> trials;
  for (int i = 0; i < 2; ++i) {
    CHECK(silent_serving());
    trials.push_back(get());
    f.run();
    CHECK_FALSE(trials.back().poll()); // held by the silent backend
  }
  CHECK_FALSE(silent_serving());
  auto next = get();
  f.run();
  auto got = next.poll();
  REQUIRE(got);
  REQUIRE(*got);
  CHECK((*got)->backend == "memory");
  f.advance(1s); // the trials miss their deadline and fall over too
  for (auto& t : trials) {
    auto r = t.poll();
    REQUIRE(r);
    REQUIRE(*r);
    CHECK((*r)->backend == "memory");
  }
}
