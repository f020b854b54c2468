// A handoff log that takes longer than handoff_load_timeout to load (a large
// log after a restart) is waited for: its backend serves no reads until the
// log is loaded and replayed, then recovers, without a restart. Real threads
// (handoff logs on their own); the load is held back by a hook until the
// coordinator has reported it late, so the test does not depend on timing.
#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"
#include "metrics/counting_metrics.hpp"
#include "support/eventually.hpp"
#include "support/faulty_backend.hpp"
#include "support/temp_dir.hpp"

#include "support/scoped_ask.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

/// Holds loads back until released (released on destruction too, so a
/// failing test never leaves a thread blocked).
class gate {
public:
  ~gate() { open(); }
  void wait() {
    std::unique_lock lock{mutex_};
    cv_.wait_for(lock, 120s, [this] { return open_; });
  }
  void open() {
    std::lock_guard lock{mutex_};
    open_ = true;
    cv_.notify_all();
  }

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

backend_health health_of(caf::scoped_actor& self, const coordinator_actor& c,
                         const std::string& name) {
  auto report = ask<health_report>(self, c, health_atom::value);
  REQUIRE(report);
  for (auto& b : report->backends)
    if (b.name == name) return b;
  FAIL("no backend named " << name);
  return {};
}

} // namespace

TEST_CASE("replication: a handoff log loading past its deadline is waited for and its backend "
          "recovers without a restart", "[replication][threads]") {
  temp_dir dir;
  auto primary = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  auto secondary = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  auto metrics = std::make_shared<counting_metrics>();
  auto config = [&] {
    runtime_config rc;
    rc.backends.push_back({"primary", shared_instance(primary)});
    rc.backends.push_back({"secondary", shared_instance(secondary)});
    rc.coordinator.handoff_dir = dir.path() + "/handoff";
    rc.coordinator.request_timeout = 60s;
    rc.coordinator.probe_interval = 100ms;
    rc.metrics = metrics;
    return rc;
  };
  uint64_t x_version = 0;
  {
    // First run: a write the secondary misses waits in its log.
    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    auto rt = spawn_runtime(sys, config());
    REQUIRE(rt.await_ready(sys));
    caf::scoped_actor self{sys};
    // The secondary is copied from the primary at the first start.
    REQUIRE(eventually([&] {
      return health_of(self, rt.coordinator, "secondary").replica == replica_state::in_sync;
    }));
    REQUIRE(ask<write_receipt>(self, rt.coordinator, create_atom::value,
                               collection_spec{"c", 2, metric::l2})
              ->applied() == 2);
    secondary->inject(fault::unavailable);
    auto x = ask<write_receipt>(self, rt.coordinator, upsert_atom::value, std::string{"c"},
                                std::vector<document>{{"x", {1, 2}, "", "{}", 0}});
    REQUIRE(x);
    REQUIRE(x->applied() == 1);
    x_version = x->version;
    REQUIRE(health_of(self, rt.coordinator, "secondary").pending == 1);
  }
  secondary->clear();
  // Second run: the secondary's log is held back past its load deadline.
  gate load;
  auto rc = config();
  rc.coordinator.handoff_load_timeout = 10ms;
  rc.coordinator.before_hints_load = [&load](const std::string& backend) {
    if (backend == "secondary") load.wait();
  };
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto rt = spawn_runtime(sys, rc);
  // Start-up does not wait for the late log.
  REQUIRE(rt.await_ready(sys));
  caf::scoped_actor self{sys};
  CHECK(eventually([&] {
    auto h = health_of(self, rt.coordinator, "secondary");
    return h.last_error == "handoff log still loading";
  }));
  auto h = health_of(self, rt.coordinator, "secondary");
  CHECK_FALSE(h.serving);
  CHECK(h.replica != replica_state::in_sync);
  // The other backend serves meanwhile.
  CHECK(eventually([&] { return health_of(self, rt.coordinator, "primary").serving; }));
  // Loaded late: replayed, in sync, no restart and no rebuild needed.
  load.open();
  CHECK(eventually([&] {
    return health_of(self, rt.coordinator, "secondary").replica == replica_state::in_sync;
  }));
  auto got = secondary->inner().get("c", "x");
  REQUIRE(got);
  CHECK(got->version == x_version);
  CHECK(metrics->handoff("secondary", handoff_event::replayed) == 1);
  CHECK(metrics->rebuilt("secondary") == 0);
}
