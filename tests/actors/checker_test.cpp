// Checks and anti-entropy repair (actors/checker.hpp) through the
// coordinator, on CAF's deterministic scheduler with two in-memory backends
// made to differ by writing to one store directly, as a write that reached
// only one backend (a server killed between two sends) would leave them.
#include "support/two_backends.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

/// Versions are wall-clock microseconds: these are later than any write the
/// coordinator gives a version now.
constexpr uint64_t later = uint64_t(1) << 60;

document doc(std::string id, uint64_t version, std::string content = "") {
  return document{std::move(id), {1, 2}, std::move(content), "{}", version};
}

/// Two backends compared in ranges of 2 entries (many ranges, so the walk,
/// its tails and its shortened ranges are exercised).
struct repairing : two_backends {
  explicit repairing(const tweak& more = {})
    : two_backends([more](runtime_config& cfg) {
        cfg.coordinator.repair_page = 2;
        if (more) more(cfg);
      }) {}

  backend& store(const std::string& name) {
    return (name == "primary" ? primary : secondary)->inner();
  }

  consistency_report check() {
    auto report = ask<consistency_report>(coordinator(), check_atom::value);
    REQUIRE(report);
    return *report;
  }

  /// Runs a repair job to its end.
  check_status repair() {
    auto id = ask<uint64_t>(coordinator(), check_atom::value, true);
    REQUIRE(id);
    auto status = ask<check_status>(coordinator(), ready_atom::value, *id);
    REQUIRE(status);
    REQUIRE(status->done);
    return *status;
  }

  const collection_check& collection(const consistency_report& r, const std::string& name) {
    for (auto& c : r.collections)
      if (c.collection == name) return c;
    FAIL("no collection " << name << " in the report");
    return r.collections.front();
  }
};

} // namespace

TEST_CASE_METHOD(repairing, "repair: the check finds every kind of difference and repair fixes each",
                 "[repair]") {
  seed_data(); // a, b on both
  for (int i = 0; i < 6; ++i) { // equal on both: ranges whose digests match
    auto id = "same" + std::to_string(i);
    REQUIRE(store("primary").upsert("c", {doc(id, later + 50)}));
    REQUIRE(store("secondary").upsert("c", {doc(id, later + 50)}));
  }
  REQUIRE(store("primary").upsert("c", {doc("only-primary", later + 100, "P")}));
  REQUIRE(store("secondary").upsert("c", {doc("only-secondary", later + 101, "S")}));
  REQUIRE(store("primary").upsert("c", {doc("b", later + 200, "newer")})); // secondary holds an older b
  REQUIRE(store("primary").remove("c", "a", later + 300));                  // a tombstone on one
  REQUIRE(store("primary").remove("c", "ghost", later + 310));              // never existed: not a difference
  REQUIRE(store("primary").create_collection({"d", 2, metric::l2})); // a collection on one
  REQUIRE(store("primary").upsert("d", {doc("d1", later + 60, "D")}));

  auto before = check();
  CHECK_FALSE(before.consistent());
  CHECK(before.error.empty());
  CHECK(before.differences() == 6);
  auto& c = collection(before, "c");
  CHECK(c.counts == std::vector<uint64_t>{8, 9}); // a is deleted on the primary
  CHECK(c.missing == 2);
  CHECK(c.mismatched == 2);
  CHECK(c.repaired == 0);
  auto shows = [&](const std::string& text) {
    return std::any_of(c.examples.begin(), c.examples.end(),
                       [&](auto& e) { return e.find(text) != std::string::npos; });
  };
  CHECK(shows("id 'a': primary v" + std::to_string(later + 300) + " deleted, secondary v"));
  CHECK(shows("id 'only-primary': primary v" + std::to_string(later + 100) + ", secondary missing"));
  auto& d = collection(before, "d");
  CHECK(d.missing == 2); // the collection and its document
  CHECK(d.examples.front() == "collection missing on secondary");

  auto status = repair();
  CHECK(status.repair);
  CHECK_FALSE(status.background);
  CHECK(status.report.differences() == 6);
  CHECK(status.report.repaired() == 6);
  CHECK(status.progress.repaired == 6);
  CHECK(status.progress.collections_done == 2);
  CHECK(status.progress.collections_total == 2);

  CHECK(check().consistent());
  CHECK(store("secondary").get("c", "only-primary")->content == "P");
  CHECK(store("primary").get("c", "only-secondary")->content == "S");
  CHECK(store("secondary").get("c", "b")->version == later + 200);
  CHECK(store("secondary").get("c", "b")->content == "newer");
  CHECK(store("secondary").get("c", "a").error().kind == errc::not_found);
  CHECK(store("secondary").get("d", "d1")->content == "D");
  CHECK(metrics->repair_differences("secondary") == 10); // found by the check, then by the repair
  CHECK(metrics->repair_copies("secondary") == 5);
  CHECK(metrics->repair_copies("primary") == 1);
  CHECK(metrics->repair_rounds(true, false) == 1);
  CHECK(metrics->repair_range_count() > 3);

  // A second repair finds nothing to do.
  auto again = repair();
  CHECK(again.report.consistent());
  CHECK(again.report.repaired() == 0);
}

TEST_CASE_METHOD(repairing, "repair: random differences converge to the newest version of every id",
                 "[repair]") {
  REQUIRE(ask<write_receipt>(coordinator(), create_atom::value, collection_spec{"c", 2, metric::l2}));
  std::mt19937_64 rng{42};
  std::map<std::string, version_entry> newest; // what repair must end with
  uint64_t version = 10;
  for (int i = 0; i < 400; ++i) {
    auto id = "id" + std::to_string(rng() % 80);
    bool del = rng() % 4 == 0;
    auto v = ++version;
    auto on = rng() % 3; // 0: primary, 1: secondary, 2: both
    for (auto name : {"primary", "secondary"}) {
      if ((on == 0 && std::string{name} != "primary") || (on == 1 && std::string{name} != "secondary"))
        continue;
      if (del) REQUIRE(store(name).remove("c", id, v));
      else REQUIRE(store(name).upsert("c", {doc(id, v)}));
    }
    newest[id] = version_entry{id, v, del};
  }
  auto status = repair();
  CHECK(status.report.error.empty());
  CHECK(status.report.repaired() == status.report.differences());
  CHECK(status.report.differences() > 0);
  CHECK(check().consistent());
  for (auto& [id, e] : newest)
    for (auto name : {"primary", "secondary"}) {
      auto got = store(name).get("c", id);
      INFO(name << " " << id);
      if (e.deleted) {
        CHECK(got.error().kind == errc::not_found);
      } else {
        REQUIRE(got);
        CHECK(got->version == e.version);
      }
    }
}

TEST_CASE_METHOD(repairing, "repair: a newer write that lands during repair is never overwritten",
                 "[repair]") {
  seed_data();
  REQUIRE(store("primary").upsert("c", {doc("x", later + 10, "old")}));
  auto gets = primary->calls(operation::get);
  auto job = send<uint64_t>(coordinator(), check_atom::value, true);
  // Step until the repair has read x from the primary, then let a newer
  // write reach the secondary before the repair's copy does.
  for (int i = 0; i < 100000 && primary->calls(operation::get) == gets; ++i)
    if (!sched().try_run_once()) break;
  REQUIRE(primary->calls(operation::get) > gets);
  REQUIRE(store("secondary").upsert("c", {doc("x", later + 20, "newer")}));
  run();
  REQUIRE(job.poll());
  CHECK(store("secondary").get("c", "x")->version == later + 20);
  CHECK(store("secondary").get("c", "x")->content == "newer");
  // The next round copies the newer write the other way.
  repair();
  CHECK(store("primary").get("c", "x")->content == "newer");
  CHECK(check().consistent());
}

TEST_CASE("repair: the background round repairs without a request", "[repair]") {
  repairing f{[](runtime_config& cfg) {
    cfg.coordinator.repair_interval = 60s;
    cfg.coordinator.repair_rate = 5; // ranges per second: timers between ranges
  }};
  f.seed_data();
  for (int i = 0; i < 9; ++i)
    REQUIRE(f.store("primary").upsert("c", {doc("p" + std::to_string(i), later + 100)}));
  CHECK_FALSE(f.check().consistent());
  f.advance(60s);
  CHECK(f.metrics->repair_rounds(true, true) == 1);
  for (int i = 0; i < 100 && !f.store("secondary").get("c", "p8"); ++i) f.advance(1s);
  CHECK(f.store("secondary").get("c", "p8"));
  CHECK(f.check().consistent());
  CHECK(f.metrics->repair_copies("secondary") == 9);
}

TEST_CASE_METHOD(repairing, "repair: job status, progress and an unknown job", "[repair]") {
  seed_data();
  auto unknown = ask<check_status>(coordinator(), status_atom::value, uint64_t{999});
  REQUIRE_FALSE(unknown);
  CHECK(is(unknown.error(), errc::not_found));
  auto id = ask<uint64_t>(coordinator(), check_atom::value, false);
  REQUIRE(id);
  auto status = ask<check_status>(coordinator(), status_atom::value, *id);
  REQUIRE(status);
  CHECK(status->done);
  CHECK_FALSE(status->repair);
  CHECK(status->report.consistent());
  CHECK(status->progress.ids == 2);
  CHECK(status->progress.collections_total == 1);
}

TEST_CASE_METHOD(repairing, "repair: a backend failing during the check ends the job with an error",
                 "[repair]") {
  seed_data();
  secondary->inject(fault::error, operation::scan); // versions and digests
  auto report = check();
  CHECK_FALSE(report.consistent());
  CHECK(report.error.find("secondary") != std::string::npos);
}
