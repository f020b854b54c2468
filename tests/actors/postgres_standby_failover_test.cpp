// The coordinator over a postgres backend with a real streaming hot standby
// (read_replicas) and the in-memory store, with a handoff directory
// (issue 15). Each case kills the primary, so each runs on a primary and a
// standby of its own: tests/scripts/postgres_standby_tests.sh starts them
// and runs one "[.standby]" case at a time. Real threads: the test waits on
// conditions with generous bounds.
#include "actors/errors.hpp"
#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"
#include "backends/postgres_backend.hpp"
#include "metrics/counting_metrics.hpp"
#include "support/eventually.hpp"
#include "support/required_env.hpp"
#include "support/postgres_env.hpp"
#include "support/temp_dir.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <cstdlib>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) { return required_env(name, "tests/scripts/postgres_standby_tests.sh"); }

struct standby_cluster {
  std::string primary_port = env("LIFELINE_PG_PORT");
  std::string standby_port = env("LIFELINE_PG_STANDBY_PORT");
  postgres_config base = postgres_from_env(2);
  std::string standby_dsn = "host=127.0.0.1 port=" + standby_port + " user=lifeline dbname=lifeline";

  /// Plain SQL on the standby, to look behind the backend.
  pqxx::result on_standby(const std::string& sql) {
    pqxx::connection c{standby_dsn + " password='" + base.password + "'"};
    pqxx::nontransaction tx{c};
    return tx.exec(sql);
  }
};

struct standby_failover {
  standby_cluster pg;
  temp_dir dir;
  std::unique_ptr<caf::actor_system_config> cfg = std::make_unique<caf::actor_system_config>();
  std::unique_ptr<caf::actor_system> sys = std::make_unique<caf::actor_system>(*cfg);
  std::shared_ptr<counting_metrics> metrics = std::make_shared<counting_metrics>();
  runtime rt;
  std::unique_ptr<caf::scoped_actor> self = std::make_unique<caf::scoped_actor>(*sys);
  std::string collection = unique_collection("standby");

  /// `list_both`: the conninfo lists primary and standby, so the backend
  /// follows a promotion by itself.
  explicit standby_failover(bool list_both = false) {
    auto cfg = pg.base;
    if (list_both)
      cfg.dsn = "host=127.0.0.1,127.0.0.1 port=" + pg.primary_port + "," + pg.standby_port
                + " user=lifeline dbname=lifeline target_session_attrs=read-write";
    cfg.read_replicas = {pg.standby_dsn};
    cfg.connect_timeout = 2s;
    runtime_config rc;
    rc.backends.push_back({"postgres", [cfg] { return make_shared_backend<postgres_backend>(cfg); }});
    rc.backends.push_back({"memory", shared_instance(std::make_shared<memory_backend>())});
    rc.coordinator.handoff_dir = dir.path();
    rc.coordinator.attempt_timeout = 3s;
    rc.coordinator.request_timeout = 30s;
    rc.coordinator.probe_interval = 200ms;
    rc.coordinator.probe_timeout = 3s;
    rc.coordinator.circuit.open_duration = 300ms;
    // Reads follow the priority order here: the cases check which copy
    // answers, not the latency policy (which may prefer the faster memory
    // store on a loaded machine).
    rc.coordinator.hedging = false;
    rc.coordinator.outliers.factor = 0;
    rc.metrics = metrics;
    rt = spawn_runtime(*sys, rc);
    REQUIRE(rt.await_ready(*sys));
  }

  ~standby_failover() {
    rt.stop();
    self.reset();
  }

  template <class Reply, class... Ts>
  caf::expected<Reply> ask(Ts&&... xs) {
    caf::expected<Reply> out = caf::make_error(caf::sec::request_timeout);
    (*self)->request(rt.coordinator, 60s, std::forward<Ts>(xs)...)
      .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  caf::expected<served<document>> get(const std::string& id) {
    return ask<served<document>>(get_atom::value, collection, id);
  }
  caf::expected<write_receipt> put(const std::string& id, const std::string& content) {
    return ask<write_receipt>(upsert_atom::value, collection,
                              std::vector<document>{{id, {1, 2}, content, "", 0}});
  }

  backend_health health(const std::string& name) {
    auto h = ask<health_report>(health_atom::value);
    REQUIRE(h);
    for (auto& b : h->backends)
      if (b.name == name) return b;
    FAIL("no backend " << name);
    return {};
  }
  /// The standby as the postgres backend reports it (as of the last probe;
  /// a default, not serving, before the first).
  standby_status standby() {
    auto h = health("postgres");
    if (!h.has_database) return {};
    REQUIRE(h.database.standbys.size() == 1);
    return h.database.standbys[0];
  }

  void seed() {
    // Start-up rebuilds the memory store from postgres (the reference).
    REQUIRE(eventually([&] {
      return health("postgres").replica == replica_state::in_sync
             && health("memory").replica == replica_state::in_sync;
    }));
    REQUIRE(ask<write_receipt>(create_atom::value, collection_spec{collection, 2, metric::l2})
              ->applied() == 2);
    for (int i = 0; i < 10; ++i) {
      auto w = put("d" + std::to_string(i), "v1");
      REQUIRE(w);
      REQUIRE(w->applied() == 2);
    }
    // The standby has replayed every acknowledged write.
    REQUIRE(eventually([&] { return standby().serving; }));
  }

  void hold(const std::string& name, bool on) {
    REQUIRE(ask<ok_atom>(hold_atom::value, name, on));
  }
};

} // namespace

TEST_CASE("standby: with the primary down, the standby serves the backend's reads",
          "[.standby][primary-down]") {
  standby_failover f;
  f.seed();
  REQUIRE(pg_control("kill") == 0);
  // Every read, none stale and none refused: the standby has every
  // acknowledged write. Probes keep the backend up on the standby.
  for (int i = 0; i < 10; ++i) {
    auto r = f.get("d" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->backend == "postgres");
    CHECK(r->value.content == "v1");
  }
  CHECK(eventually([&] { return !f.health("postgres").database.primary_reachable; }));
  // Counts as of the next probe.
  CHECK(eventually([&] { return f.standby().reads >= 10; }));
  auto sb = f.standby();
  CHECK(sb.serving);
  CHECK(sb.refused == 0);
  CHECK(sb.lag_bytes == 0);
  CHECK(f.health("postgres").serving);
}

TEST_CASE("standby: replay paused with the primary down, reads are refused there, never stale; "
          "resumed, it serves again",
          "[.standby][paused]") {
  standby_failover f;
  f.seed();
  REQUIRE(pg_control("standby-pause") == 0);
  // Acknowledged after the pause: on the primary (and memory), not on the standby.
  auto w = f.put("late", "fresh");
  REQUIRE(w);
  REQUIRE(w->applied() == 2);
  auto over = f.put("d1", "v2");
  REQUIRE(over);
  REQUIRE(over->applied() == 2);
  REQUIRE(pg_control("kill") == 0);

  // The standby lacks them: the memory store answers, with the new data.
  for (auto [id, content] : {std::pair{"late", "fresh"}, std::pair{"d1", "v2"}}) {
    auto r = f.get(id);
    REQUIRE(r);
    CHECK(r->backend == "memory");
    CHECK(r->value.content == content);
  }
  CHECK(eventually([&] {
    auto sb = f.standby();
    return !sb.serving && sb.lag_bytes > 0;
  }));

  // With no other backend left, a 503 names the standby and how far behind
  // it is.
  f.hold("memory", true);
  auto refused = f.get("late");
  REQUIRE_FALSE(refused);
  CHECK(is(refused.error(), errc::all_backends_unavailable));
  auto text = describe(refused.error());
  CHECK_THAT(text, Catch::Contains("127.0.0.1:" + f.pg.standby_port));
  CHECK_THAT(text, Catch::Contains("bytes behind the last acknowledged write"));

  // Replay resumed: the standby serves again, with the new data (memory is
  // still held down, so only the standby can answer).
  REQUIRE(pg_control("standby-resume") == 0);
  CHECK(eventually([&] { return f.standby().serving; }));
  CHECK(eventually([&] {
    auto r = f.get("late");
    return r && r->backend == "postgres" && r->value.content == "fresh";
  }));
  auto d1 = f.get("d1");
  REQUIRE(d1);
  CHECK(d1->backend == "postgres");
  CHECK(d1->value.content == "v2");
}

TEST_CASE("standby: promoted, writes reach the new primary, the gap's writes are replayed there "
          "and the new timeline is verified",
          "[.standby][promotion]") {
  standby_failover f{true};
  f.seed();
  auto timeline = f.health("postgres").database.timeline;
  CHECK(timeline.size() == 8);
  REQUIRE(pg_control("kill") == 0);
  // Acknowledged with no primary: applied to memory, kept for postgres.
  auto gap = f.put("gap", "while no primary");
  REQUIRE(gap);
  CHECK(gap->applied() == 1);
  REQUIRE(pg_control("promote") == 0);

  // The backend finds the new primary; the new timeline is verified (a
  // rebuild from the in-sync memory store) and the gap's write is there.
  CHECK(eventually([&] { return f.health("postgres").replica == replica_state::in_sync; }));
  CHECK(f.metrics->replica_transitions("postgres", replica_state::rebuilding) >= 1);
  CHECK(eventually([&] { return f.health("postgres").database.timeline != timeline; }));
  auto row = f.pg.on_standby("SELECT content FROM lifeline_documents WHERE collection = '"
                             + f.collection + "' AND id = 'gap' AND NOT deleted");
  REQUIRE(row.size() == 1);
  CHECK(row[0][0].as<std::string>() == "while no primary");
  // Writes reach the new primary again.
  auto after = f.put("after", "on the new primary");
  REQUIRE(after);
  CHECK(after->applied() == 2);
  f.hold("memory", true);
  auto r = f.get("gap");
  REQUIRE(r);
  CHECK(r->backend == "postgres");
  CHECK(r->value.content == "while no primary");
  f.hold("memory", false);
}

TEST_CASE("standby: a promotion with no write missed still leads to verification of the new "
          "timeline",
          "[.standby][timeline]") {
  standby_failover f{true};
  f.seed();
  auto timeline = f.health("postgres").database.timeline;
  REQUIRE(pg_control("kill") == 0);
  REQUIRE(pg_control("promote") == 0);
  CHECK(eventually([&] { return f.health("postgres").database.timeline != timeline; }));
  // Verified: rebuilt from the memory store, then in sync on the new timeline.
  CHECK(eventually([&] {
    return f.metrics->replica_transitions("postgres", replica_state::rebuilding) >= 1
           && f.health("postgres").replica == replica_state::in_sync;
  }));
  auto h = f.health("postgres");
  CHECK(h.database.primary == "127.0.0.1:" + f.pg.standby_port);
  for (int i = 0; i < 10; ++i) {
    auto r = f.get("d" + std::to_string(i));
    REQUIRE(r);
    CHECK(r->value.content == "v1");
  }
}
