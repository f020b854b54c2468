#include "replication/handoff_log.hpp"
#include "replication/version_clock.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/resource.h>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

handoff_entry upsert_entry(std::string id, uint64_t version) {
  handoff_entry e;
  e.op = handoff_entry::kind::upsert;
  e.collection = "c";
  e.docs.push_back(document{std::move(id), {1.5f, -2}, "text", R"({"k":1})", version});
  return e;
}

handoff_entry remove_entry(std::string id, uint64_t version) {
  handoff_entry e;
  e.op = handoff_entry::kind::remove;
  e.collection = "c";
  e.id = std::move(id);
  e.version = version;
  return e;
}

std::unique_ptr<handoff_log> open_log(const std::string& dir) {
  auto log = handoff_log::open(dir);
  REQUIRE(log);
  return std::move(*log);
}

} // namespace

TEST_CASE("handoff log: entries come back in order until consumed", "[handoff]") {
  temp_dir dir;
  handoff_entry create;
  create.op = handoff_entry::kind::create;
  create.collection = "c";
  create.spec = {"c", 2, metric::cosine};
  std::vector<handoff_entry> written{create, upsert_entry("a", 1), remove_entry("a", 2)};
  {
    auto log = open_log(dir.path());
    REQUIRE(log->append({written[0]}));
    REQUIRE(log->append({written[1], written[2]}));
    CHECK(log->pending() == 3);
  }
  auto log = open_log(dir.path()); // kept across a reopen
  CHECK(log->pending() == 3);
  auto first = log->peek(2, 1 << 20);
  REQUIRE(first);
  CHECK(first->entries == std::vector<handoff_entry>{written[0], written[1]});
  // Peeking does not consume: a replay that stopped starts over.
  REQUIRE(log->peek(2, 1 << 20)->entries == first->entries);
  REQUIRE(log->consume(first->end_offset, 2));
  CHECK(log->pending() == 1);
  auto rest = log->peek(10, 1 << 20);
  REQUIRE(rest);
  CHECK(rest->entries == std::vector<handoff_entry>{written[2]});
  REQUIRE(log->consume(rest->end_offset, 1));
  CHECK(log->pending() == 0);
  CHECK(log->size_bytes() == 0); // emptied once drained
  CHECK(log->peek(10, 1 << 20)->entries.empty());
  REQUIRE(log->append({upsert_entry("b", 3)}));
  auto again = open_log(dir.path());
  CHECK(again->pending() == 1);
  CHECK(again->peek(10, 1 << 20)->entries[0] == upsert_entry("b", 3));
}

TEST_CASE("handoff log: the cursor survives a reopen", "[handoff]") {
  temp_dir dir;
  {
    auto log = open_log(dir.path());
    REQUIRE(log->append({upsert_entry("a", 1), upsert_entry("b", 2), upsert_entry("c", 3)}));
    auto page = log->peek(1, 1 << 20);
    REQUIRE(log->consume(page->end_offset, 1));
  }
  auto log = open_log(dir.path());
  CHECK(log->pending() == 2);
  CHECK(log->peek(10, 1 << 20)->entries[0] == upsert_entry("b", 2));
}

TEST_CASE("handoff log: a torn last record is cut off at open", "[handoff]") {
  temp_dir dir;
  {
    auto log = open_log(dir.path());
    REQUIRE(log->append({upsert_entry("a", 1)}));
    REQUIRE(log->append({upsert_entry("b", 2)}));
  }
  auto path = dir.path() + "/hints-0.log";
  auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 3); // a crash mid-append
  auto log = open_log(dir.path());
  CHECK(log->pending() == 1);
  CHECK(log->peek(10, 1 << 20)->entries == std::vector<handoff_entry>{upsert_entry("a", 1)});
  REQUIRE(log->append({upsert_entry("c", 3)})); // appends follow the intact record
  CHECK(open_log(dir.path())->pending() == 2);
}

TEST_CASE("handoff log: damage before the end is an error, never a silent cut", "[handoff]") {
  temp_dir dir;
  {
    auto log = open_log(dir.path());
    REQUIRE(log->append({upsert_entry("a", 1)}));
    REQUIRE(log->append({upsert_entry("b", 2)}));
  }
  {
    std::fstream f{dir.path() + "/hints-0.log", std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(12); // inside the first record's payload
    f.put('\x7f');
  }
  auto log = handoff_log::open(dir.path());
  REQUIRE_FALSE(log);
  CHECK(log.error().kind == errc::corrupt_response);
}

TEST_CASE("handoff log: a crash while the log moves to its next file loses nothing",
          "[handoff]") {
  temp_dir dir;
  {
    auto log = open_log(dir.path());
    REQUIRE(log->append({upsert_entry("a", 1)}));
  }
  // The next generation's file was created, but its cursor never stored.
  std::ofstream{dir.path() + "/hints-1.log"};
  auto log = open_log(dir.path());
  CHECK(log->pending() == 1);
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/hints-1.log"));
  auto page = log->peek(10, 1 << 20);
  REQUIRE(log->consume(page->end_offset, 1));
  CHECK(std::filesystem::exists(dir.path() + "/hints-1.log"));
  CHECK_FALSE(std::filesystem::exists(dir.path() + "/hints-0.log"));
  REQUIRE(log->append({upsert_entry("b", 2)}));
  auto reopened = open_log(dir.path());
  CHECK(reopened->peek(10, 1 << 20)->entries == std::vector<handoff_entry>{upsert_entry("b", 2)});
}

TEST_CASE("handoff log: a failed append leaves the log as it was", "[handoff]") {
  temp_dir dir;
  auto log = open_log(dir.path());
  REQUIRE(log->append({upsert_entry("a", 1)}));
  auto size = log->size_bytes();
  {
    // A size-limited file: writes past the limit fail like a full disk.
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit limited = saved;
    limited.rlim_cur = size + 10;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
    auto failed = log->append({upsert_entry("b", 2)});
    setrlimit(RLIMIT_FSIZE, &saved);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().message.find("File too large") != std::string::npos);
  }
  CHECK(log->pending() == 1);
  CHECK(std::filesystem::file_size(dir.path() + "/hints-0.log") == size);
  REQUIRE(log->append({upsert_entry("c", 3)}));
  auto reopened = open_log(dir.path());
  auto entries = reopened->peek(10, 1 << 20)->entries;
  CHECK(entries == std::vector<handoff_entry>{upsert_entry("a", 1), upsert_entry("c", 3)});
}

TEST_CASE("version lease: strictly increasing, below a stored ceiling, also across restarts",
          "[handoff]") {
  // What the coordinator and the durable-state actor do together: read the
  // stored ceiling, start above it, store the next one before handing out
  // versions past it.
  temp_dir dir;
  auto path = dir.path() + "/version";
  uint64_t wall = 1000;
  auto now = [&] { return wall; };
  auto start = [&] {
    auto stored = read_version_ceiling(path);
    REQUIRE(stored);
    version_lease lease{now, std::chrono::seconds(1), 0};
    lease.start_above(*stored);
    return lease;
  };
  auto store = [&](version_lease& lease) {
    auto ceiling = lease.ceiling_to_store();
    REQUIRE(store_version_ceiling(path, ceiling));
    lease.ceiling_stored(ceiling);
  };
  uint64_t last = 0;
  {
    auto lease = start();
    CHECK_FALSE(lease.next()); // nothing before a ceiling is stored
    CHECK(lease.wants_ceiling());
    store(lease);
    auto a = lease.next();
    auto b = lease.next(); // the wall clock stood still
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == 1000);
    CHECK(*b == 1001);
    wall = 500; // set back
    last = *lease.next();
    CHECK(last == 1002);
    CHECK(last <= lease.ceiling());
  }
  // After a restart with the wall clock still behind, versions go on above
  // every one handed out before.
  auto lease = start();
  store(lease);
  auto next = lease.next();
  REQUIRE(next);
  CHECK(*next > last);
  std::ofstream{dir.path() + "/bad"} << "not a number";
  CHECK_FALSE(read_version_ceiling(dir.path() + "/bad"));
}

// -- segments: replayed entries are reclaimed as replay goes ---------------------

namespace {

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> names;
  for (auto& e : std::filesystem::directory_iterator{dir}) {
    auto name = e.path().filename().string();
    if (name.rfind("hints-", 0) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// A log whose every append after the first starts a new segment.
std::unique_ptr<handoff_log> open_small(const std::string& dir) {
  handoff_log_options o;
  o.segment_bytes = 1;
  auto log = handoff_log::open(dir, o);
  REQUIRE(log);
  return std::move(*log);
}

} // namespace

TEST_CASE("handoff log: replayed segments are deleted as replay goes, not only at the end",
          "[handoff]") {
  temp_dir dir;
  {
    auto log = open_small(dir.path());
    for (uint64_t v = 1; v <= 4; ++v) REQUIRE(log->append({upsert_entry("d" + std::to_string(v), v)}));
    CHECK(log->pending() == 4);
    CHECK(segment_files(dir.path())
          == std::vector<std::string>{"hints-0.log", "hints-1.log", "hints-2.log", "hints-3.log"});
    auto one_segment = log->size_bytes() / 4;
    // A page ends with its segment; consuming it deletes that segment.
    auto page = log->peek(10, 1 << 20);
    REQUIRE(page);
    CHECK(page->entries == std::vector<handoff_entry>{upsert_entry("d1", 1)});
    REQUIRE(log->consume(page->end_offset, 1));
    CHECK(segment_files(dir.path())
          == std::vector<std::string>{"hints-1.log", "hints-2.log", "hints-3.log"});
    CHECK(log->pending() == 3);
    CHECK(log->size_bytes() == 3 * one_segment);
  }
  // The cursor and the segments survive a reopen.
  auto log = open_small(dir.path());
  CHECK(log->pending() == 3);
  std::vector<handoff_entry> replayed;
  for (;;) {
    auto page = log->peek(10, 1 << 20);
    REQUIRE(page);
    if (page->entries.empty()) break;
    replayed.insert(replayed.end(), page->entries.begin(), page->entries.end());
    REQUIRE(log->consume(page->end_offset, page->entries.size()));
    CHECK(segment_files(dir.path()).size() == (replayed.size() < 3 ? 3 - replayed.size() : 1));
  }
  CHECK(replayed
        == std::vector<handoff_entry>{upsert_entry("d2", 2), upsert_entry("d3", 3),
                                      upsert_entry("d4", 4)});
  CHECK(log->pending() == 0);
  CHECK(log->size_bytes() == 0);
  CHECK(segment_files(dir.path()) == std::vector<std::string>{"hints-4.log"});
}

TEST_CASE("handoff log: a log written by the previous version (one file) still replays",
          "[handoff]") {
  // The previous version wrote one file, hints-<generation>.log, in the same
  // record format, and a cursor "<generation> <offset>". Such a log is made
  // here byte for byte: the records of one file, renamed to a generation
  // that is not 0, with a cursor past its first record.
  temp_dir made, old;
  uint64_t first_record_end = 0;
  {
    handoff_log_options one_file;
    one_file.segment_bytes = uint64_t{1} << 40;
    auto log = handoff_log::open(made.path(), one_file);
    REQUIRE(log);
    REQUIRE((*log)->append({upsert_entry("a", 1), upsert_entry("b", 2), remove_entry("a", 3)}));
    first_record_end = (*log)->peek(1, 1 << 20)->end_offset;
  }
  std::filesystem::copy_file(made.path() + "/hints-0.log", old.path() + "/hints-7.log");
  std::ofstream{old.path() + "/cursor"} << "7 " << first_record_end;
  auto log = open_log(old.path());
  CHECK(log->pending() == 2);
  auto page = log->peek(10, 1 << 20);
  REQUIRE(page);
  CHECK(page->entries == std::vector<handoff_entry>{upsert_entry("b", 2), remove_entry("a", 3)});
  REQUIRE(log->consume(page->end_offset, 2));
  CHECK(log->pending() == 0);
  CHECK(segment_files(old.path()) == std::vector<std::string>{"hints-8.log"});
  // Appends go on in the new layout.
  REQUIRE(log->append({upsert_entry("c", 4)}));
  CHECK(open_log(old.path())->peek(10, 1 << 20)->entries
        == std::vector<handoff_entry>{upsert_entry("c", 4)});
}

TEST_CASE("handoff log: a cut end of a segment that is not the last is damage, not a torn tail",
          "[handoff]") {
  temp_dir dir;
  {
    auto log = open_small(dir.path());
    for (uint64_t v = 1; v <= 3; ++v) REQUIRE(log->append({upsert_entry("d", v)}));
  }
  auto middle = dir.path() + "/hints-1.log";
  std::filesystem::resize_file(middle, std::filesystem::file_size(middle) - 3);
  auto log = handoff_log::open(dir.path());
  REQUIRE_FALSE(log);
  CHECK(log.error().kind == errc::corrupt_response);
  CHECK(log.error().message.find(middle + " is corrupt at byte 0") != std::string::npos);
}

TEST_CASE("handoff log: a missing segment is damage", "[handoff]") {
  temp_dir dir;
  {
    auto log = open_small(dir.path());
    for (uint64_t v = 1; v <= 3; ++v) REQUIRE(log->append({upsert_entry("d", v)}));
  }
  std::filesystem::remove(dir.path() + "/hints-1.log");
  auto log = handoff_log::open(dir.path());
  REQUIRE_FALSE(log);
  CHECK(log.error().kind == errc::corrupt_response);
  CHECK(log.error().message.find("hints-1.log is missing") != std::string::npos);
}

TEST_CASE("handoff log: a torn end of the last segment is cut, the segments before it kept",
          "[handoff]") {
  temp_dir dir;
  {
    auto log = open_small(dir.path());
    for (uint64_t v = 1; v <= 3; ++v) REQUIRE(log->append({upsert_entry("d", v)}));
  }
  auto last = dir.path() + "/hints-2.log";
  std::filesystem::resize_file(last, std::filesystem::file_size(last) - 3);
  auto log = open_small(dir.path());
  CHECK(log->pending() == 2);
}

TEST_CASE("handoff log: drop_all discards every segment", "[handoff]") {
  temp_dir dir;
  auto log = open_small(dir.path());
  for (uint64_t v = 1; v <= 3; ++v) REQUIRE(log->append({upsert_entry("d", v)}));
  auto page = log->peek(10, 1 << 20);
  REQUIRE(log->consume(page->end_offset, 1));
  auto dropped = log->drop_all();
  REQUIRE(dropped);
  CHECK(*dropped == 2);
  CHECK(log->pending() == 0);
  CHECK(log->size_bytes() == 0);
  CHECK(log->peek(10, 1 << 20)->entries.empty());
  CHECK(segment_files(dir.path()).size() == 1);
  REQUIRE(log->append({upsert_entry("e", 9)}));
  auto reopened = open_small(dir.path());
  CHECK(reopened->pending() == 1);
  CHECK(reopened->peek(10, 1 << 20)->entries == std::vector<handoff_entry>{upsert_entry("e", 9)});
}
