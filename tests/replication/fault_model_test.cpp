// The randomized fault test of issue 6: mixed upserts and deletes through
// the real server while PostgreSQL is killed, paused and restarted, the
// vector backend's actor is crashed and the whole server is killed and
// restarted. A model keeps every acknowledged write; at the end every backend
// must hold exactly the model's documents and versions, compared by the
// server's own check and by reading each backend alone.
//
// Issue 12 adds runs of the faults it bounds: writes cut between their two
// sends (repair), a handoff log past handoff_limit_mb (cap), and damage in
// the middle of a log, with valid records after it, in the handoff log and
// in the vector store's write-ahead log (damage).
//
// The run itself (the model, the server control, the helpers) is
// fault_run (fault_run.hpp); this file holds the test cases.

#include "replication/fault_run.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using namespace lifeline::testing;

// Each seed is its own test (and ctest entry). LIFELINE_FAULT_SEED runs one
// more, e.g. to reproduce a failure seen elsewhere.
TEST_CASE("faults: seed 1: backends converge on every acknowledged write", "[faults]") {
  fault_run{1}.run(500);
}

TEST_CASE("faults: seed 2: backends converge on every acknowledged write", "[faults]") {
  fault_run{2}.run(500);
}

TEST_CASE("faults: seed 3: backends converge on every acknowledged write", "[faults]") {
  fault_run{3}.run(500);
}

TEST_CASE("faults: seed 4: backends converge on every acknowledged write", "[faults]") {
  fault_run{4}.run(500);
}

TEST_CASE("faults: seed 5: backends converge on every acknowledged write", "[faults]") {
  fault_run{5}.run(500);
}

TEST_CASE("faults: repair: writes cut between two sends by kill -9 are found and repaired",
          "[faults][repair]") {
  fault_run{7}.run_cut_writes(100);
}

TEST_CASE("faults: cap: seed 8: a handoff log past handoff_limit_mb is dropped and its backend "
          "rebuilt with every acknowledged write", "[faults]") {
  fault_run{8}.run_past_cap(60);
}

TEST_CASE("faults: cap: seed 10: a handoff log past handoff_limit_mb is dropped and its backend "
          "rebuilt with every acknowledged write", "[faults]") {
  fault_run{10}.run_past_cap(60);
}

TEST_CASE("faults: damage: seed 9: a handoff log and a vector store log damaged mid-log are set "
          "aside and rebuilt with every acknowledged write", "[faults]") {
  fault_run{9}.run_damaged_logs(60);
}

TEST_CASE("faults: damage: seed 11: a handoff log and a vector store log damaged mid-log are set "
          "aside and rebuilt with every acknowledged write", "[faults]") {
  fault_run{11}.run_damaged_logs(60);
}

TEST_CASE("faults: the seed in LIFELINE_FAULT_SEED", "[.faults-env]") {
  const char* seed = std::getenv("LIFELINE_FAULT_SEED");
  REQUIRE(seed != nullptr);
  fault_run{std::stoull(seed)}.run(500);
}
