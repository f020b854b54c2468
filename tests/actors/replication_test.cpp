// No acknowledged write is lost: hinted handoff, catch-up before serving,
// rebuild from a peer, consistency checks and tombstone purges, on CAF's
// deterministic scheduler with real handoff logs on disk.
#include "support/temp_dir.hpp"
#include "support/two_backends.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/resource.h>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

struct scratch {
  temp_dir dir;
};

/// Two backends with handoff logs in a scratch directory.
struct replicated : scratch, two_backends {
  explicit replicated(uint32_t page = 1000, const tweak& extra = {})
    : two_backends([this, page, extra](runtime_config& cfg) {
        cfg.coordinator.handoff_dir = dir.path() + "/handoff";
        cfg.coordinator.detached_io = false;
        cfg.coordinator.purge_interval = 30s;
        cfg.coordinator.purge_grace = 0s;
        cfg.coordinator.recovery_page = page;
        if (extra) extra(cfg);
      }) {}

  std::string hints_dir(const std::string& backend) { return dir.path() + "/handoff/" + backend; }

  /// Stops the runtime, runs `between` (the process is down), starts it again.
  void restart_with(const std::function<void()>& between) {
    rt.stop();
    run();
    between();
    rt = spawn_runtime(sys(), config);
    run();
    REQUIRE(ask<health_report>(rt.coordinator, ready_atom::value));
  }

  write_outcome outcome(const write_receipt& r, const std::string& backend) {
    for (auto& b : r.backends)
      if (b.backend == backend) return b.outcome;
    FAIL("no receipt entry for " << backend);
    return write_outcome::failed;
  }

  caf::expected<write_receipt> remove(const std::string& id) {
    return ask<write_receipt>(coordinator(), remove_atom::value, std::string{"c"}, id);
  }

  /// Kills the backend's actor; its supervisor restarts it after 100 ms.
  void crash(const std::string& name) {
    REQUIRE(ask<ok_atom>(coordinator(), restart_atom::value, name));
    REQUIRE(health_of(name).lifecycle != lifecycle_state::up);
  }

  consistency_report check() {
    auto report = ask<consistency_report>(coordinator(), check_atom::value);
    REQUIRE(report);
    return *report;
  }

  /// The ids of the tombstones backend `name`'s store holds in "c".
  std::vector<std::string> tombstones(const std::string& name) {
    auto& store = (name == "primary" ? primary : secondary)->inner();
    range_request all;
    all.collection = "c";
    auto entries = store.versions(all);
    REQUIRE(entries);
    std::vector<std::string> ids;
    for (auto& e : *entries)
      if (e.deleted) ids.push_back(e.id);
    return ids;
  }

  /// What backend `name`'s store itself holds.
  expected<document> get_from(const std::string& name, const std::string& id) {
    return (name == "primary" ? primary : secondary)->inner().get("c", id);
  }
};

/// Makes every file write beyond `bytes` fail (EFBIG), as a full disk
/// would, until destroyed: a size-limited file.
class file_size_limit {
public:
  explicit file_size_limit(rlim_t bytes) {
    std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limited = saved_;
    limited.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
  }
  ~file_size_limit() { setrlimit(RLIMIT_FSIZE, &saved_); }

private:
  rlimit saved_{};
};

document doc(std::string id, float x) { return document{std::move(id), {x, x}, "", "{}", 0}; }

} // namespace

TEST_CASE_METHOD(replicated, "replication: a failed write is kept and replayed before reads",
                 "[replication]") {
  seed_data();
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  secondary->inject(fault::unavailable);
  auto r = upsert(doc("x", 2));
  REQUIRE(r);
  CHECK(r->version > 0);
  CHECK(outcome(*r, "primary") == write_outcome::applied);
  CHECK(outcome(*r, "secondary") == write_outcome::deferred);
  auto h = health_of("secondary");
  CHECK(h.replica == replica_state::catching_up);
  CHECK(h.pending == 1);
  CHECK_FALSE(h.serving);
  // Behind: it serves no reads, even when the other backend fails.
  secondary->clear();
  primary->inject(fault::unavailable, operation::get);
  auto refused = get("a");
  REQUIRE_FALSE(refused);
  CHECK(is(refused.error(), errc::all_backends_unavailable));
  CHECK(describe(refused.error()).find("catching up (1 writes pending)") != std::string::npos);
  primary->clear();
  // The next probe round starts the replay; then it serves again.
  advance(10s);
  h = health_of("secondary");
  CHECK(h.replica == replica_state::in_sync);
  CHECK(h.pending == 0);
  CHECK(metrics->handoff("secondary", handoff_event::appended) == 1);
  CHECK(metrics->handoff("secondary", handoff_event::replayed) == 1);
  auto got = get_from("secondary", "x");
  REQUIRE(got);
  CHECK(got->version == r->version);
  // And it serves reads again.
  primary->inject(fault::unavailable, operation::get);
  auto served = get("x");
  REQUIRE(served);
  CHECK(served->backend == "secondary");
  CHECK(check().consistent());
}

TEST_CASE_METHOD(replicated, "replication: writes to a backend that is down wait in its log",
                 "[replication]") {
  seed_data();
  crash("secondary");
  auto x = upsert(doc("x", 2));
  REQUIRE(x);
  CHECK(outcome(*x, "secondary") == write_outcome::deferred);
  auto gone = remove("a");
  REQUIRE(gone);
  CHECK(gone->deleted());
  CHECK(gone->version > x->version);
  CHECK(health_of("secondary").pending == 2);
  advance(100ms); // restarted: replays both, in order
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  REQUIRE(get_from("secondary", "x"));
  auto a = get_from("secondary", "a");
  REQUIRE_FALSE(a);
  CHECK(a.error().kind == errc::not_found);
  CHECK(check().consistent());
}

TEST_CASE_METHOD(replicated, "replication: deleting a missing document is a 404 that still "
                             "leaves a tombstone", "[replication]") {
  seed_data();
  auto r = remove("never");
  REQUIRE(r);
  CHECK_FALSE(r->deleted());
  CHECK(r->applied() == 2);
  // An older write of that id arriving late (a replay) stays deleted.
  auto late = doc("never", 1);
  late.version = r->version - 1;
  for (auto* b : {primary.get(), secondary.get()}) {
    REQUIRE(b->inner().upsert("c", {late}));
    CHECK(b->inner().get("c", "never").error().kind == errc::not_found);
  }
}

TEST_CASE("replication: a backend that lost its data is rebuilt from its peer",
          "[replication]") {
  replicated f{2}; // pages of two documents
  f.seed_data();
  for (int i = 0; i < 5; ++i) REQUIRE(f.upsert(doc("d" + std::to_string(i), float(i))));
  // The secondary's database comes back empty but for a stale document.
  auto fresh = std::make_shared<memory_backend>();
  REQUIRE(fresh->create_collection({"c", 2, metric::l2}));
  REQUIRE(fresh->upsert("c", {doc("zombie", 9)}));
  f.secondary->replace_inner(fresh);
  f.crash("secondary");
  f.advance(100ms);
  auto h = f.health_of("secondary");
  CHECK(h.replica == replica_state::in_sync);
  CHECK(h.rebuilt == 7);
  CHECK(f.metrics->rebuilt("secondary") == 7);
  // Once at the first start (an empty copy of the primary), once now.
  CHECK(f.metrics->replica_transitions("secondary", replica_state::rebuilding) == 2);
  auto report = f.check();
  CHECK(report.consistent());
  REQUIRE(report.collections.size() == 1);
  CHECK(report.collections[0].counts == std::vector<uint64_t>{7, 7});
  auto zombie = f.get_from("secondary", "zombie");
  REQUIRE_FALSE(zombie);
  CHECK(zombie.error().kind == errc::not_found);
  auto d4 = f.get_from("secondary", "d4");
  REQUIRE(d4);
  auto original = f.get_from("primary", "d4");
  REQUIRE(original);
  CHECK(*d4 == *original);
}

TEST_CASE_METHOD(replicated, "replication: hints survive a restart of the whole process",
                 "[replication]") {
  seed_data();
  secondary->inject(fault::unavailable);
  auto r = upsert(doc("x", 2));
  REQUIRE(r);
  REQUIRE(outcome(*r, "secondary") == write_outcome::deferred);
  respawn(); // the secondary still fails: its log waits
  CHECK(health_of("secondary").pending == 1);
  CHECK(health_of("secondary").replica == replica_state::catching_up);
  secondary->clear();
  advance(10s);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  auto got = get_from("secondary", "x");
  REQUIRE(got);
  CHECK(got->version == r->version);
  // Versions keep rising across the restart.
  auto later = upsert(doc("y", 3));
  REQUIRE(later);
  CHECK(later->version > r->version);
}

TEST_CASE_METHOD(replicated, "replication: a write whose handoff log is full is not "
                             "acknowledged", "[replication]") {
  seed_data();
  SECTION("backend down") {
    crash("secondary");
  }
  SECTION("write failed on the backend") {
    secondary->inject(fault::unavailable, operation::upsert);
  }
  {
    file_size_limit full{1};
    auto r = upsert(doc("x", 2));
    REQUIRE_FALSE(r);
    CHECK(is(r.error(), errc::not_durable));
    CHECK(describe(r.error()).find("handoff log of secondary") != std::string::npos);
  }
  CHECK(metrics->handoff("secondary", handoff_event::failed) == 1);
  // The primary applied it; the secondary lacks it and has no hint for it:
  // it must be rebuilt before it serves reads again.
  CHECK(health_of("secondary").replica == replica_state::rebuilding);
  CHECK_FALSE(health_of("secondary").serving);
  secondary->clear();
  // Space again: writes are kept and acknowledged.
  auto y = upsert(doc("y", 3));
  REQUIRE(y);
  advance(100ms);
  advance(10s);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  CHECK(metrics->rebuilt("secondary") >= 3);
  REQUIRE(get_from("secondary", "x"));
  REQUIRE(get_from("secondary", "y"));
  CHECK(check().consistent());
}

TEST_CASE_METHOD(replicated, "replication: a write refused everywhere leaves nothing behind",
                 "[replication]") {
  seed_data();
  crash("secondary");
  // An upsert into a missing collection: 404, and nothing kept for later.
  auto r = ask<write_receipt>(coordinator(), upsert_atom::value, std::string{"nope"},
                              std::vector<document>{doc("x", 1)});
  REQUIRE_FALSE(r);
  CHECK(is(r.error(), errc::not_found));
  CHECK(health_of("secondary").pending == 0);
  advance(100ms);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
}

TEST_CASE_METHOD(replicated, "replication: writes to a collection re-created while a backend "
                             "is behind stay in order", "[replication]") {
  seed_data();
  // The drop fails on the secondary, and keeps failing when replayed, so the
  // secondary stays behind while the collection is created again.
  secondary->inject(fault::error, operation::drop_collection);
  REQUIRE(ask<write_receipt>(coordinator(), drop_atom::value, std::string{"c"}));
  CHECK(health_of("secondary").replica == replica_state::catching_up);
  auto created = ask<write_receipt>(coordinator(), create_atom::value,
                                    collection_spec{"c", 2, metric::l2});
  REQUIRE(created);
  CHECK(outcome(*created, "secondary") == write_outcome::deferred);
  auto z = upsert(doc("z", 1));
  REQUIRE(z);
  // Behind the queued drop and create: it waits in the log too.
  CHECK(outcome(*z, "secondary") == write_outcome::deferred);
  secondary->clear();
  advance(10s);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  REQUIRE(get_from("secondary", "z"));
  CHECK(get_from("secondary", "a").error().kind == errc::not_found);
  CHECK(check().consistent());
}

TEST_CASE_METHOD(replicated, "replication: check reports documents one backend lacks",
                 "[replication]") {
  seed_data();
  REQUIRE(primary->inner().upsert("c", {doc("stray", 5)}));
  auto report = check();
  CHECK_FALSE(report.consistent());
  REQUIRE(report.collections.size() == 1);
  auto& c = report.collections[0];
  CHECK(c.counts == std::vector<uint64_t>{3, 2});
  CHECK(c.missing == 1);
  REQUIRE(c.examples.size() == 1);
  CHECK(c.examples[0] == "id 'stray': primary v0, secondary missing");
}

TEST_CASE_METHOD(replicated, "replication: tombstones are purged once every backend holds them",
                 "[replication]") {
  seed_data();
  REQUIRE(remove("a"));
  SECTION("all in sync: purged") {
    advance(30s);
    CHECK(*primary->inner().purge_tombstones(UINT64_MAX >> 1) == 0);
    CHECK(*secondary->inner().purge_tombstones(UINT64_MAX >> 1) == 0);
  }
  SECTION("one backend behind: the other purges its own") {
    secondary->inject(fault::unavailable);
    REQUIRE(remove("b"));
    advance(30s);
    CHECK(*primary->inner().purge_tombstones(UINT64_MAX >> 1) == 0);
  }
}

TEST_CASE_METHOD(replicated, "replication: tombstones are purged per backend while another "
                             "backend is down", "[replication]") {
  seed_data();
  REQUIRE(remove("b")); // a tombstone on both
  secondary->inject(fault::unavailable);
  auto a = remove("a");
  REQUIRE(a);
  CHECK(outcome(*a, "secondary") == write_outcome::deferred);
  auto never = remove("never"); // an id that never existed: a tombstone all the same
  REQUIRE(never);
  CHECK_FALSE(never->deleted());
  CHECK(health_of("secondary").pending == 2);
  CHECK(tombstones("primary") == std::vector<std::string>{"a", "b", "never"});
  // Past the grace period (0 here): the primary holds the data, is in sync
  // and has nothing pending, so it purges although the secondary is down.
  advance(30s);
  CHECK(tombstones("primary").empty());
  // The secondary keeps its own (b) and purges nothing while behind.
  CHECK(tombstones("secondary") == std::vector<std::string>{"b"});
  // Back: it gets the deletes through its log (as tombstones), then purges
  // in turn.
  secondary->clear();
  advance(10s);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  CHECK(get_from("secondary", "a").error().kind == errc::not_found);
  CHECK(get_from("secondary", "never").error().kind == errc::not_found);
  advance(30s);
  CHECK(tombstones("secondary").empty());
  CHECK(check().consistent());
}

// -- bounded handoff logs ---------------------------------------------------------

TEST_CASE("replication: a handoff log past its limit is dropped, writes stay acknowledged and "
          "the backend is rebuilt", "[replication]") {
  replicated f{1000, [](runtime_config& cfg) {
                 cfg.coordinator.handoff_limit_bytes = 0; // none, but for the override
                 cfg.coordinator.handoff_limit_of["secondary"] = 300;
               }};
  f.seed_data();
  f.crash("secondary");
  std::vector<write_receipt> acked;
  for (int i = 0; i < 12; ++i) {
    auto r = f.upsert(doc("x" + std::to_string(i), float(i)));
    REQUIRE(r); // never refused as not durable because of the limit
    CHECK(r->applied() == 1);
    acked.push_back(*r);
  }
  auto h = f.health_of("secondary");
  CHECK(h.replica == replica_state::rebuilding);
  CHECK(h.last_error.find("handoff_limit_mb") != std::string::npos);
  CHECK(f.metrics->handoff_resets("secondary", "limit") >= 1);
  CHECK(f.metrics->handoff("secondary", handoff_event::dropped) > 0);
  CHECK(f.metrics->handoff("secondary", handoff_event::failed) == 0);
  CHECK(f.metrics->handoff_resets("primary", "limit") == 0);
  auto rebuilt_before = f.metrics->rebuilt("secondary");
  f.advance(100ms); // restarted: rebuilt from the primary
  f.advance(10s);
  h = f.health_of("secondary");
  CHECK(h.replica == replica_state::in_sync);
  CHECK(f.metrics->rebuilt("secondary") >= rebuilt_before + 14);
  for (size_t i = 0; i < acked.size(); ++i) {
    auto got = f.get_from("secondary", "x" + std::to_string(i));
    REQUIRE(got);
    CHECK(got->version == acked[i].version);
  }
  CHECK(f.check().consistent());
}

TEST_CASE("replication: a rebuild deletes what its peer deleted at the peer's tombstone "
          "version, so the check finds the two equal", "[replication]") {
  replicated f{1000, [](runtime_config& cfg) {
                 cfg.coordinator.handoff_limit_bytes = 0;
                 cfg.coordinator.handoff_limit_of["secondary"] = 300;
               }};
  f.seed_data();
  f.crash("secondary");
  REQUIRE(f.remove("a")); // "a" stays live on the secondary, which is down
  for (int i = 0; i < 12; ++i) REQUIRE(f.upsert(doc("x" + std::to_string(i), float(i))));
  REQUIRE(f.health_of("secondary").replica == replica_state::rebuilding);
  f.advance(100ms);
  f.advance(10s);
  REQUIRE(f.health_of("secondary").replica == replica_state::in_sync);
  auto version_of = [&](const std::string& name) {
    auto& store = (name == "primary" ? f.primary : f.secondary)->inner();
    range_request one{"c", "", "a", 10};
    auto entries = store.versions(one);
    REQUIRE(entries);
    for (auto& e : *entries)
      if (e.id == "a") return std::make_pair(e.deleted, e.version);
    FAIL("no version of a on " << name);
    return std::make_pair(false, uint64_t(0));
  };
  CHECK(version_of("secondary") == version_of("primary"));
  CHECK(version_of("secondary").first);
  CHECK(f.check().consistent());
}

TEST_CASE_METHOD(replicated, "replication: a handoff log damaged mid-log is set aside and every "
                             "acknowledged write reaches the backend through a rebuild",
                 "[replication]") {
  seed_data();
  secondary->inject(fault::unavailable);
  std::vector<write_receipt> acked;
  for (int i = 0; i < 3; ++i) {
    auto r = upsert(doc("x" + std::to_string(i), float(i)));
    REQUIRE(r);
    REQUIRE(outcome(*r, "secondary") == write_outcome::deferred);
    acked.push_back(*r);
  }
  auto rebuilt_before = metrics->rebuilt("secondary");
  auto file = hints_dir("secondary") + "/hints-0.log";
  restart_with([&] {
    // Damage inside the first record, with valid records after it.
    std::fstream f{file, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(12);
    f.put('');
    secondary->clear();
  });
  CHECK(metrics->handoff_resets("secondary", "damaged") == 1);
  // The damaged file is kept aside for the operator.
  bool kept_aside = false;
  for (auto& e : std::filesystem::directory_iterator{hints_dir("secondary")}) {
    auto name = e.path().filename().string();
    if (name.rfind("hints-0.log.", 0) == 0 && name.size() > 8
        && name.compare(name.size() - 8, 8, ".damaged") == 0)
      kept_aside = true;
  }
  CHECK(kept_aside);
  advance(10s);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  CHECK(metrics->rebuilt("secondary") >= rebuilt_before + 5);
  for (size_t i = 0; i < acked.size(); ++i) {
    auto got = get_from("secondary", "x" + std::to_string(i));
    REQUIRE(got);
    CHECK(got->version == acked[i].version);
  }
  CHECK(check().consistent());
}

TEST_CASE_METHOD(replicated, "replication: a torn handoff tail is cut and what precedes it is "
                             "replayed, without a rebuild", "[replication]") {
  seed_data();
  secondary->inject(fault::unavailable);
  auto x = upsert(doc("x", 1));
  REQUIRE(x);
  REQUIRE(outcome(*x, "secondary") == write_outcome::deferred);
  // The last append is cut short below: a crash mid-append, so in a real
  // crash it would never have been acknowledged.
  REQUIRE(upsert(doc("torn", 2)));
  auto rebuilt_before = metrics->rebuilt("secondary");
  auto file = hints_dir("secondary") + "/hints-0.log";
  restart_with([&] {
    std::filesystem::resize_file(file, std::filesystem::file_size(file) - 3);
    secondary->clear();
  });
  advance(10s);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  CHECK(metrics->handoff_resets("secondary", "damaged") == 0);
  CHECK(metrics->rebuilt("secondary") == rebuilt_before);
  auto got = get_from("secondary", "x");
  REQUIRE(got);
  CHECK(got->version == x->version);
  CHECK(get_from("secondary", "torn").error().kind == errc::not_found);
}

TEST_CASE_METHOD(replicated, "replication: a backend left out of a run is rebuilt if writes "
                             "were made without it", "[replication]") {
  seed_data();
  auto both = config.backends;
  config.backends.pop_back(); // a run with the primary only (`--backends primary`)
  respawn();
  auto x = upsert(doc("x", 2));
  REQUIRE(x);
  REQUIRE(x->backends.size() == 1);
  config.backends = both;
  respawn();
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  CHECK(metrics->rebuilt("secondary") >= 3);
  REQUIRE(get_from("secondary", "x"));
  CHECK(check().consistent());
}

/// Replays and rebuilds two entries or documents at a time.
struct small_pages : replicated {
  small_pages() : replicated(2) {}
};

TEST_CASE_METHOD(small_pages, "replication: a catch-up reports its progress out of the writes "
                              "it missed, then none once in sync",
                 "[replication][progress]") {
  seed_data();
  crash("secondary");
  for (int i = 0; i < 6; ++i) REQUIRE(upsert(doc("p" + std::to_string(i), float(i))));
  CHECK(health_of("secondary").pending == 6);
  advance(100ms); // restarted: replays the six, two at a time
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  auto reports = metrics->progress("secondary");
  REQUIRE(reports.size() >= 4);
  // Out of six from the start; each page adds two, and the rate is known.
  std::vector<uint64_t> done;
  for (auto& r : reports)
    if (r.total == 6) done.push_back(r.done);
  CHECK(done == std::vector<uint64_t>{2, 4, 6});
  // In sync: done, total and rate reset, and no time left to estimate.
  CHECK(reports.back().done == 0);
  CHECK(reports.back().total == 0);
  CHECK(reports.back().eta_s == -1);
  auto h = health_of("secondary");
  CHECK(h.progress_done == 0);
  CHECK(h.progress_eta_s == -1);
}

TEST_CASE_METHOD(small_pages, "replication: a rebuild reports documents copied out of the "
                              "peer's count",
                 "[replication][progress]") {
  seed_data();
  for (int i = 0; i < 5; ++i) REQUIRE(upsert(doc("p" + std::to_string(i), float(i))));
  auto both = config.backends;
  config.backends.pop_back(); // a run without it, with a write: it is rebuilt
  respawn();
  REQUIRE(upsert(doc("x", 2)));
  config.backends = both;
  respawn();
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  auto reports = metrics->progress("secondary");
  auto seeded = metrics->rebuilt("secondary");
  REQUIRE(seeded >= 8); // two seeded, five, and x
  // The peer's count is known before the first page; every page after it
  // says how far the copy is, never past the total.
  bool counted = false;
  uint64_t last = 0;
  for (auto& r : reports) {
    if (r.total == 0) continue;
    counted = true;
    CHECK(r.total == seeded);
    CHECK(r.done <= r.total);
    CHECK(r.done >= last);
    last = r.done;
  }
  CHECK(counted);
  CHECK(last == seeded);
}

TEST_CASE_METHOD(replicated, "replication: a run without a backend and without writes keeps it "
                             "as it is", "[replication]") {
  seed_data();
  auto both = config.backends;
  config.backends.pop_back();
  respawn();
  REQUIRE(get("a"));
  config.backends = both;
  auto rebuilt_before = metrics->rebuilt("secondary");
  respawn();
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  CHECK(metrics->rebuilt("secondary") == rebuilt_before);
}

TEST_CASE_METHOD(replicated, "replication: a handoff log damaged while it is open is set aside "
                             "when replayed and the backend is rebuilt", "[replication]") {
  seed_data();
  secondary->inject(fault::unavailable);
  std::vector<write_receipt> acked;
  for (int i = 0; i < 3; ++i) {
    auto r = upsert(doc("x" + std::to_string(i), float(i)));
    REQUIRE(r);
    acked.push_back(*r);
  }
  {
    // Damage under the open log (bit rot), records after it intact.
    std::fstream f{hints_dir("secondary") + "/hints-0.log",
                   std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(12);
    f.put('\x7f');
  }
  secondary->clear();
  advance(10s);
  advance(10s);
  CHECK(metrics->handoff_resets("secondary", "damaged") == 1);
  CHECK(health_of("secondary").replica == replica_state::in_sync);
  for (size_t i = 0; i < acked.size(); ++i) {
    auto got = get_from("secondary", "x" + std::to_string(i));
    REQUIRE(got);
    CHECK(got->version == acked[i].version);
  }
  CHECK(check().consistent());
}

TEST_CASE("replication: free disk below the watermark is flagged", "[replication]") {
  replicated f{1000, [](runtime_config& cfg) {
                 cfg.coordinator.disk_free_warn_bytes = UINT64_MAX; // always below
               }};
  f.seed_data();
  CHECK(f.metrics->handoff_disk("secondary").second); // checked when the log opened
  f.secondary->inject(fault::unavailable);
  REQUIRE(f.upsert(doc("x", 1)));
  auto [free_bytes, low] = f.metrics->handoff_disk("secondary");
  CHECK(free_bytes > 0);
  CHECK(low);
}

TEST_CASE("replication: free disk above the watermark is not flagged", "[replication]") {
  replicated f{1000, [](runtime_config& cfg) { cfg.coordinator.disk_free_warn_bytes = 1; }};
  f.seed_data();
  auto [free_bytes, low] = f.metrics->handoff_disk("secondary");
  CHECK(free_bytes > 0);
  CHECK_FALSE(low);
}
