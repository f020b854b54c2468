// A backend actor that goes down with calls pending answers every one of
// them, however it goes down (issue 12): an operator's restart, a kill its
// exit handler never sees. Otherwise the caller's request handler (with
// caf::infinite) stays behind, and so does the call's place in the
// backend's in-flight bound. Real threads: the backend holds its calls on
// detached workers; every wait is bounded and no timing is asserted.
#include "actors/backend_actor.hpp"
#include "actors/errors.hpp"
#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"
#include "support/eventually.hpp"
#include "support/faulty_backend.hpp"

#include "support/scoped_ask.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <optional>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

/// The reply to a request sent earlier with `send` (a value or an error), or
/// nullopt if none came within `bound`.
template <class Reply>
std::optional<caf::expected<Reply>> reply_within(caf::scoped_actor& self, std::chrono::seconds bound) {
  std::optional<caf::expected<Reply>> out;
  self->receive([&](Reply& r) { out = caf::expected<Reply>{std::move(r)}; },
                [&](caf::error& e) { out = caf::expected<Reply>{std::move(e)}; },
                caf::after(bound) >> [] {});
  return out;
}

/// One backend ("primary") whose calls the test holds, with deadlines far
/// beyond the test's bounds: only the backend's going down can answer a
/// held call in time.
struct held_backend {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<faulty_backend> store
    = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  runtime rt;

  explicit held_backend(std::optional<uint32_t> max_in_flight = std::nullopt) {
    runtime_config rc;
    rc.backends.push_back({"primary", shared_instance(store)});
    rc.backends.back().max_in_flight = max_in_flight;
    rc.coordinator.attempt_timeout = 10min;
    rc.coordinator.request_timeout = 10min;
    rc.coordinator.probe_interval = 1h;
    rt = spawn_runtime(sys, rc);
    REQUIRE(rt.await_ready(sys));
    caf::scoped_actor self{sys};
    REQUIRE(ask<write_receipt>(self, rt.coordinator, create_atom::value,
                               collection_spec{"c", 2, metric::l2}));
    REQUIRE(ask<write_receipt>(self, rt.coordinator, upsert_atom::value, std::string{"c"},
                               std::vector<document>{{"a", {1, 2}, "A", "{}", 0}}));
  }

  ~held_backend() {
    store->clear();
    store->release(); // the held worker thread returns; its reply finds nobody
    rt.stop();
  }

  /// Sends a get from `reader` that the backend holds.
  void send_held_get(caf::scoped_actor& reader) {
    store->inject(fault::hang, operation::get);
    reader->send(rt.coordinator, get_atom::value, std::string{"c"}, std::string{"a"});
    REQUIRE(store->wait_for_hung(1));
  }

  backend_actor current_handle() {
    caf::scoped_actor self{sys};
    auto status = ask<lifecycle_event>(self, rt.supervisors.at(0), status_atom::value);
    REQUIRE(status);
    REQUIRE(status->handle);
    return status->handle;
  }
};

} // namespace

TEST_CASE("a backend pool killed with calls pending fails them at once",
          "[backend_actor][threads]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = std::make_shared<faulty_backend>(std::make_shared<memory_backend>(2));
  auto actor = spawn_backend_actor(sys, store, {2, true});
  caf::scoped_actor self{sys};
  store->inject(fault::hang, operation::probe);
  self->send(actor, probe_atom::value);
  REQUIRE(store->wait_for_hung(1));
  // A kill: the pool's exit handler never runs.
  self->send_exit(actor, caf::exit_reason::kill);
  auto r = reply_within<ok_atom>(self, 60s);
  REQUIRE(r.has_value()); // answered, not left pending
  REQUIRE_FALSE(*r);
  CHECK(is(r->error(), errc::backend_unavailable));
  store->release();
}

TEST_CASE("an operator's restart fails the calls pending on the backend at once, with its reason",
          "[backend_actor][coordinator][threads]") {
  held_backend f;
  caf::scoped_actor reader{f.sys};
  f.send_held_get(reader);
  caf::scoped_actor self{f.sys};
  REQUIRE(ask<ok_atom>(self, f.rt.coordinator, restart_atom::value, std::string{"primary"}));
  // The held get is answered now, not after its 10-minute deadline: the
  // restart's exit reason reaches the backend actor's exit handler, which
  // fails what is pending with it.
  auto r = reply_within<served<document>>(reader, 60s);
  REQUIRE(r.has_value()); // answered, not left pending
  REQUIRE_FALSE(*r);
  CHECK_FALSE(is(r->error(), errc::timeout));
  CHECK(describe(r->error()).find("restart requested by an operator") != std::string::npos);
}

TEST_CASE("a backend actor that dies with a call pending answers it, and the call does not stay "
          "counted against the backend's bound",
          "[backend_actor][coordinator][threads]") {
  // One call in flight at most: a call left counted would shed every later
  // one as overloaded.
  held_backend f{1u};
  caf::scoped_actor reader{f.sys};
  f.send_held_get(reader);
  caf::scoped_actor self{f.sys};
  self->send_exit(f.current_handle(), caf::exit_reason::kill);
  auto r = reply_within<served<document>>(reader, 60s);
  REQUIRE(r.has_value()); // answered, not left pending
  REQUIRE_FALSE(*r);
  CHECK_FALSE(is(r->error(), errc::timeout));
  f.store->clear();
  f.store->release();
  // Its supervisor starts it again; the coordinator's count for it is back
  // to zero, so a read is served, not shed.
  caf::expected<served<document>> got = caf::make_error(caf::sec::request_timeout);
  CHECK(eventually([&] {
    got = ask<served<document>>(self, f.rt.coordinator, get_atom::value, std::string{"c"},
                                std::string{"a"});
    return static_cast<bool>(got);
  }));
  if (!got) FAIL_CHECK("last read: " << describe(got.error()));
}
