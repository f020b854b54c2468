// Crash recovery: a child process writes and is killed with SIGKILL at a
// random point (seeded); on reopen every acknowledged write is there, and
// every document present is complete.
#include "backends/hnsw_backend.hpp"
#include "support/crash_docs.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

/// Runs the writer until it has acknowledged `acks` writes, then kills it.
/// Returns the number of the last acknowledged write.
int64_t run_and_kill(const std::string& dir, int acks) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::execl(LIFELINE_HNSW_WRITER, LIFELINE_HNSW_WRITER, dir.c_str(), (char*) nullptr);
    ::_exit(127);
  }
  ::close(out[1]);
  FILE* in = ::fdopen(out[0], "r");
  char line[128];
  int64_t last = -1;
  int seen = 0;
  while (seen < acks && std::fgets(line, sizeof line, in)) {
    unsigned long long n;
    if (std::sscanf(line, "ack %llu", &n) == 1) {
      last = int64_t(n);
      ++seen;
    }
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::fclose(in);
  INFO("the writer stopped by itself, status " << status);
  REQUIRE(WIFSIGNALED(status));
  return last;
}

} // namespace

TEST_CASE("vector store: a writer killed at a random point loses no acknowledged write",
          "[hnsw][durability][crash]") {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    temp_dir dir;
    std::mt19937 rng{seed};
    int acks = 20 + int(rng() % 600);
    auto last = run_and_kill(dir.path(), acks);
    INFO("seed " << seed << ": killed after write " << last);
    REQUIRE(last >= 0);
    hnsw_config cfg;
    cfg.directory = dir.path();
    hnsw_backend store{cfg};
    REQUIRE(store.wait_loaded());
    auto name = crash_collection().name;
    // Every acknowledged write is there, exactly as written.
    for (int64_t i = 0; i <= last; ++i) {
      auto got = store.get(name, crash_doc(uint64_t(i)).id);
      bool removed_later = (i + 1) % 7 == 6 && i + 1 <= last; // write i+1 removed doc i
      if (removed_later) {
        CHECK_FALSE(got);
        continue;
      }
      REQUIRE(got);
      CHECK(*got == crash_doc(uint64_t(i)));
      if (i % 3 == 0) CHECK(store.get(name, crash_doc(uint64_t(i) + 1000000).id));
    }
    // Anything else present is a complete write (one in flight at the kill).
    auto stats = store.collection_stats(name);
    REQUIRE(stats);
    auto hits = store.search({name, {0, 0, 0, 1}, 10000, 0});
    REQUIRE(hits);
    CHECK(hits->size() == stats->count);
    for (auto& h : *hits) {
      auto n = std::stoull(h.id.substr(4));
      auto want = crash_doc(n);
      CHECK(h.content == want.content);
      CHECK(h.metadata == want.metadata);
    }
  }
}
