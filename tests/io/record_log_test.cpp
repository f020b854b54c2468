// io/: the framed record log under the vector store's log and the handoff
// logs (framing, torn tail versus damage, durability policies, files the
// code before io/ wrote), and the atomic-file writer.
#include "backends/hnsw_backend.hpp"
#include "io/atomic_file.hpp"
#include "io/checksum.hpp"
#include "io/files.hpp"
#include "io/record_log.hpp"
#include "replication/handoff_log.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/resource.h>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;
namespace fs = std::filesystem;

namespace {

struct opened_log {
  std::unique_ptr<io::record_log> log;
  std::vector<std::string> records;
  io::log_scan scan;
};

opened_log open_log(const std::string& path, io::record_log_options options = {},
                    uint64_t from = 0) {
  opened_log out;
  auto log = io::record_log::open(
    path, options, from,
    [&](uint64_t, std::string_view payload) -> expected<void> {
      out.records.emplace_back(payload);
      return {};
    },
    &out.scan);
  REQUIRE(log);
  out.log = std::move(*log);
  return out;
}

/// Writes three records ("one", "two", "three") and closes the log.
std::string three_records(const std::string& dir) {
  auto path = dir + "/log";
  auto log = open_log(path).log;
  REQUIRE(log->append(std::string{"one"}));
  REQUIRE(log->append(std::vector<std::string>{"two", "three"}));
  return path;
}

void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

void put_byte(const std::string& path, uint64_t offset, char c) {
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  f.seekp(std::streamoff(offset));
  f.put(c);
}

} // namespace

TEST_CASE("record log: crc32 is the standard CRC-32 and continues across calls", "[record]") {
  CHECK(io::crc32(std::string_view{"123456789"}) == 0xCBF43926u); // the published check value
  CHECK(io::crc32(std::string_view{""}) == 0u);
  CHECK(io::crc32(std::string_view{"6789"}, io::crc32(std::string_view{"12345"})) == 0xCBF43926u);
  CHECK(io::crc32(nullptr, 0, 0x1234u) == 0x1234u); // nothing to add: unchanged
}

TEST_CASE("record log: a record is framed as length, CRC-32 and payload", "[record]") {
  std::string out;
  io::append_frame(out, "123456789");
  CHECK(out == std::string{"\x09\x00\x00\x00\x26\x39\xf4\xcb" "123456789", 17});
}

TEST_CASE("record log: records come back in order across a reopen", "[record]") {
  temp_dir dir;
  auto path = three_records(dir.path());
  auto reopened = open_log(path);
  CHECK(reopened.records == std::vector<std::string>{"one", "two", "three"});
  CHECK(reopened.scan.tail == io::log_tail::clean);
  CHECK(reopened.scan.records == 3);
  CHECK(reopened.log->size_bytes() == fs::file_size(path));
  SECTION("read from an offset, without disturbing appends") {
    auto reader = reopened.log->read_from(8 + 3); // past "one"
    REQUIRE(*reader.next());
    CHECK(reader.payload() == "two");
    CHECK(reader.offset() == 11);
    REQUIRE(reopened.log->append(std::string{"four"}));
    REQUIRE(*reader.next());
    CHECK(reader.payload() == "three");
    CHECK_FALSE(*reader.next()); // ends where the log ended when it was made
    CHECK(reader.tail() == io::log_tail::clean);
    CHECK(open_log(path).records.size() == 4);
  }
  SECTION("open from an offset feeds only what follows") {
    auto tail = open_log(path, {}, 8 + 3);
    CHECK(tail.records == std::vector<std::string>{"two", "three"});
  }
  SECTION("an offset past the end is an error") {
    reopened.log.reset();
    auto bad = io::record_log::open(path, {}, 1000, [](uint64_t, std::string_view) -> expected<void> { return {}; });
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind == errc::corrupt_response);
  }
}

TEST_CASE("record log: records larger than a read buffer and many small ones read back",
          "[record]") {
  temp_dir dir;
  auto path = dir.path() + "/log";
  std::vector<std::string> written;
  {
    auto log = open_log(path).log;
    written.push_back(std::string(3u << 20, 'x')); // larger than the 1 MiB read chunk
    for (int i = 0; i < 5000; ++i) written.push_back(std::string(600, char('a' + i % 26)) + std::to_string(i));
    written.push_back(std::string((1u << 20) + 17, 'y'));
    REQUIRE(log->append(written));
  }
  CHECK(open_log(path).records == written);
}

TEST_CASE("record log: a torn tail is reported and cut off, and appends follow the intact "
          "records",
          "[record]") {
  temp_dir dir;
  auto path = three_records(dir.path());
  auto size = fs::file_size(path);
  std::string reason;
  SECTION("cut in the last payload") {
    fs::resize_file(path, size - 2);
    reason = "incomplete record";
  }
  SECTION("cut in the last header") {
    fs::resize_file(path, size - 5 - 6);
    reason = "incomplete header";
  }
  SECTION("the last record fails its checksum") {
    put_byte(path, size - 1, '!');
    reason = "checksum mismatch";
  }
  SECTION("a zero-filled tail (the file grew, its data never landed)") {
    std::ofstream{path, std::ios::app | std::ios::binary} << std::string(4096, '\0');
    reason = "zero-filled tail";
  }
  auto opened = open_log(path);
  CHECK(opened.scan.tail == io::log_tail::torn);
  CHECK(opened.scan.reason == reason);
  bool kept_last = reason == "zero-filled tail";
  CHECK(opened.records.size() == (kept_last ? 3u : 2u));
  CHECK(fs::file_size(path) == opened.scan.end); // cut off
  REQUIRE(opened.log->append(std::string{"four"}));
  opened.log.reset();
  auto again = open_log(path);
  CHECK(again.scan.tail == io::log_tail::clean);
  CHECK(again.records.back() == "four");
}

TEST_CASE("record log: damage before the end is an error naming the byte, and nothing is cut",
          "[record]") {
  temp_dir dir;
  auto path = three_records(dir.path());
  auto size = fs::file_size(path);
  std::string reason;
  SECTION("a checksum mismatch in the first record") {
    put_byte(path, 9, '!');
    reason = "checksum mismatch before its end";
  }
  SECTION("an empty record before real data") {
    for (int i = 0; i < 8; ++i) put_byte(path, uint64_t(i), '\0');
    reason = "empty record";
  }
  SECTION("a length above the limit") {
    io::record_log_options small;
    small.max_record_bytes = 4;
    io::log_scan scan;
    auto log = io::record_log::open(path, small, 0, [](uint64_t, std::string_view) -> expected<void> { return {}; }, &scan);
    REQUIRE_FALSE(log);
    CHECK(scan.reason == "impossible length");
    CHECK(scan.end == 22); // "one" and "two" fit, "three" does not
    return;
  }
  io::log_scan scan;
  std::vector<std::string> fed;
  auto log = io::record_log::open(
    path, {}, 0,
    [&](uint64_t, std::string_view p) -> expected<void> {
      fed.emplace_back(p);
      return {};
    },
    &scan);
  REQUIRE_FALSE(log);
  CHECK(log.error().kind == errc::corrupt_response);
  CHECK(log.error().message.find("corrupt at byte 0 (" + reason + ")") != std::string::npos);
  CHECK(scan.tail == io::log_tail::damaged);
  CHECK(fed.empty());
  CHECK(fs::file_size(path) == size);
}

TEST_CASE("record log: an error from the record callback ends the open with that error",
          "[record]") {
  temp_dir dir;
  auto path = three_records(dir.path());
  auto log = io::record_log::open(path, {}, 0, [](uint64_t offset, std::string_view) -> expected<void> {
    if (offset > 0) return backend_error{errc::invalid_argument, "not this one"};
    return {};
  });
  REQUIRE_FALSE(log);
  CHECK(log.error().message == "not this one");
}

TEST_CASE("record log: empty and oversized records are refused", "[record]") {
  temp_dir dir;
  io::record_log_options o;
  o.max_record_bytes = 10;
  auto log = open_log(dir.path() + "/log", o).log;
  CHECK(log->append(std::string{}).error().kind == errc::invalid_argument);
  CHECK(log->append(std::string(11, 'x')).error().kind == errc::invalid_argument);
  CHECK(log->append(std::vector<std::string>{"ok", std::string(11, 'x')}).error().kind
        == errc::invalid_argument);
  CHECK(log->size_bytes() == 0); // all or none
  CHECK(log->append(std::string(10, 'x')));
}

TEST_CASE("record log: a failed write is cut off again, under either failure policy",
          "[record]") {
  temp_dir dir;
  auto policy = GENERATE(io::failure_policy::poison, io::failure_policy::cut_back);
  io::record_log_options o;
  o.on_failure = policy;
  auto path = dir.path() + "/log";
  auto log = open_log(path, o).log;
  REQUIRE(log->append(std::string{"one"}));
  auto size = log->size_bytes();
  {
    // A size-limited file: writes past the limit fail like a full disk.
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    rlimit limited = saved;
    limited.rlim_cur = size + 10;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
    auto failed = log->append(std::vector<std::string>{"two", "three"});
    setrlimit(RLIMIT_FSIZE, &saved);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().message.find("File too large") != std::string::npos);
  }
  CHECK(fs::file_size(path) == size);
  CHECK(log->failure().empty()); // the cut worked: not poisoned
  REQUIRE(log->append(std::string{"four"}));
  log.reset();
  CHECK(open_log(path).records == std::vector<std::string>{"one", "four"});
}

TEST_CASE("record log: group commit makes every waiting writer's record durable", "[record]") {
  temp_dir dir;
  auto path = dir.path() + "/log";
  io::record_log_options o;
  o.mode = io::sync_mode::group;
  {
    auto log = open_log(path, o).log;
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w)
      writers.emplace_back([&, w] {
        for (int i = 0; i < 25; ++i) {
          auto ticket = log->append(std::to_string(w) + ":" + std::to_string(i));
          REQUIRE(ticket);
          REQUIRE(log->sync(*ticket));
        }
      });
    for (auto& t : writers) t.join();
    REQUIRE(log->sync_all());
    REQUIRE(log->truncate());
    CHECK(log->size_bytes() == 0);
    REQUIRE(log->append(std::string{"after"}));
    REQUIRE(log->sync_all());
  }
  CHECK(open_log(path).records == std::vector<std::string>{"after"});
}

// The logs' files as the code before io/ wrote them (generated once by that
// code, commit 2ab0483, and kept here byte for byte): they must still load.
TEST_CASE("record log: a vector store log written before io/ still loads", "[record][hnsw]") {
  // create c (dim 2, l2); upsert a = {1.5, -2} "A" "{}" v7; remove b v8.
  const std::string wal{
    "\x13\x00\x00\x00\x5d\xd3\x06\xd7\x01\x00\x00\x00\x00\x00\x00\x00"
    "\x01\x01\x00\x00\x00\x63\x02\x00\x00\x00\x00\x36\x00\x00\x00\x36"
    "\x47\xa2\xdb\x02\x00\x00\x00\x00\x00\x00\x00\x05\x01\x00\x00\x00"
    "\x63\x01\x00\x00\x00\x01\x00\x00\x00\x61\x02\x00\x00\x00\x00\x00"
    "\xc0\x3f\x00\x00\x00\xc0\x01\x00\x00\x00\x41\x02\x00\x00\x00\x7b"
    "\x7d\x07\x00\x00\x00\x00\x00\x00\x00\x1b\x00\x00\x00\x62\x03\x3a"
    "\x57\x03\x00\x00\x00\x00\x00\x00\x00\x06\x01\x00\x00\x00\x63\x01"
    "\x00\x00\x00\x62\x08\x00\x00\x00\x00\x00\x00\x00",
    124};
  temp_dir dir;
  write_bytes(dir.path() + "/wal", wal);
  auto raw = open_log(dir.path() + "/wal");
  CHECK(raw.scan.tail == io::log_tail::clean);
  CHECK(raw.records.size() == 3);
  raw.log.reset();
  hnsw_config cfg;
  cfg.directory = dir.path();
  cfg.maintenance_interval = std::chrono::hours(1);
  hnsw_backend store{cfg};
  REQUIRE(store.wait_loaded());
  auto stats = store.collection_stats("c");
  REQUIRE(stats);
  CHECK(stats->spec == collection_spec{"c", 2, metric::l2});
  auto a = store.get("c", "a");
  REQUIRE(a);
  CHECK(*a == document{"a", {1.5f, -2.0f}, "A", "{}", 7});
  // b's tombstone kept version 8: an older write of b is ignored.
  REQUIRE(store.upsert("c", {document{"b", {0, 0}, "", "", 5}}));
  CHECK(store.get("c", "b").error().kind == errc::not_found);
}

TEST_CASE("record log: a handoff log written before io/ still loads", "[record][handoff]") {
  // create c (dim 2, cosine), consumed (cursor "0 19"); then upsert a, remove b.
  const std::string hints{
    "\x0b\x00\x00\x00\xaa\x4a\x65\x5f\x01\x01\x00\x00\x00\x63\x02\x00"
    "\x00\x00\x02\x2e\x00\x00\x00\x67\x2e\xf1\x35\x03\x01\x00\x00\x00"
    "\x63\x01\x00\x00\x00\x01\x00\x00\x00\x61\x02\x00\x00\x00\x00\x00"
    "\xc0\x3f\x00\x00\x00\xc0\x01\x00\x00\x00\x41\x02\x00\x00\x00\x7b"
    "\x7d\x07\x00\x00\x00\x00\x00\x00\x00\x13\x00\x00\x00\x8c\xb3\x68"
    "\x50\x04\x01\x00\x00\x00\x63\x01\x00\x00\x00\x62\x08\x00\x00\x00"
    "\x00\x00\x00\x00",
    100};
  temp_dir dir;
  write_bytes(dir.path() + "/hints-0.log", hints);
  write_bytes(dir.path() + "/cursor", "0 19");
  auto log = handoff_log::open(dir.path());
  REQUIRE(log);
  CHECK((*log)->pending() == 2);
  auto page = (*log)->peek(10, 1 << 20);
  REQUIRE(page);
  REQUIRE(page->entries.size() == 2);
  auto& up = page->entries[0];
  CHECK(up.op == handoff_entry::kind::upsert);
  CHECK(up.collection == "c");
  CHECK(up.docs == std::vector<document>{document{"a", {1.5f, -2.0f}, "A", "{}", 7}});
  auto& rm = page->entries[1];
  CHECK(rm.op == handoff_entry::kind::remove);
  CHECK(rm.id == "b");
  CHECK(rm.version == 8);
  CHECK(page->end_offset == 100);
}

TEST_CASE("atomic file: a file is replaced whole, and a failed write leaves the old one",
          "[record]") {
  temp_dir dir;
  auto path = dir.path() + "/marker";
  REQUIRE(io::write_file_atomic(path, "first"));
  CHECK(*io::read_file(path) == "first");
  write_bytes(path + ".tmp", "left by a crash, longer than the new content");
  REQUIRE(io::write_file_atomic(path, "second"));
  CHECK(*io::read_file(path) == "second");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // The temporary file cannot be written (a directory is in its place).
  fs::create_directory(path + ".tmp");
  auto failed = io::write_file_atomic(path, "third");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message.find(path + ".tmp") != std::string::npos);
  CHECK(*io::read_file(path) == "second");
  CHECK(*io::read_file_if_exists(dir.path() + "/missing") == "");
}

TEST_CASE("record log: a sync failure injected by the test hook poisons the log",
          "[record]") {
  temp_dir dir;
  auto path = dir.path() + "/log";
  io::record_log_options o;
  o.mode = io::sync_mode::group;
  auto log = open_log(path, o).log;
  auto first = log->append(std::string{"one"});
  REQUIRE(first);
  REQUIRE(log->sync(*first));
  int hooked = 0;
  io::test_hooks::set_sync_hook([&](const std::string& p) {
    if (p != path) return 0;
    ++hooked;
    return EIO;
  });
  auto second = log->append(std::string{"two"});
  REQUIRE(second); // written, not yet on disk
  auto synced = log->sync(*second);
  io::test_hooks::set_sync_hook({});
  CHECK(hooked == 1);
  REQUIRE_FALSE(synced);
  CHECK(synced.error().message.find("syncing") != std::string::npos);
  CHECK_FALSE(log->failure().empty());
  CHECK_FALSE(log->append(std::string{"three"})); // poisoned until reopened
  CHECK_FALSE(log->sync_all());
}
