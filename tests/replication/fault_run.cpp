// fault_run's runs: the randomized run with its model, and the runs of the
// faults issue 12 bounds (writes cut between their sends, a handoff log past
// its cap, damaged logs). Split from fault_model_test.cpp so that file holds
// only the test cases.
#include "replication/fault_run.hpp"

#include "support/eventually.hpp"
#include "support/postgres_env.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sys/wait.h>
#include <thread>

namespace lifeline::testing {

using json = nlohmann::json;

fault_run::fault_run(uint64_t seed) : seed_(seed), rng_(seed) {
  config_ = data_.path() + "/lifeline.toml";
  std::ofstream{config_} << "attempt_timeout_ms = 300\nrequest_timeout_ms = 1500\n"
                         << "probe_interval_ms = 200\nprobe_timeout_ms = 500\n"
                         << "breaker_failures = 2\nbreaker_open_ms = 500\n"
                         << "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\n"
                         << "priority = 1\nconninfo = \"" << serve_dsn(db_) << "\"\n"
                         << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 2\n";
  // A write cut between its two sends (run_cut_writes): PostgreSQL's one
  // connection hangs in a write while the vector store applies the next;
  // nothing may hand that write off to the log before the kill, so the
  // deadlines and the breaker are far away and the probes rare.
  std::string cut = "attempt_timeout_ms = 60000\nrequest_timeout_ms = 120000\n"
                    "write_grace_ms = 60000\nprobe_interval_ms = 60000\nprobe_timeout_ms = 500\n"
                    "breaker_failures = 1000\n";
  std::string backends = "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\npriority = 1\n"
                         "pool_size = 1\nconninfo = \"" + serve_dsn(db_) + "\"\n"
                         "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 2\n";
  cut_config_ = data_.path() + "/cut.toml";
  std::ofstream{cut_config_} << cut << "repair_interval_ms = 0\n" << backends;
  background_config_ = data_.path() + "/background.toml";
  std::ofstream{background_config_} << cut << "repair_interval_ms = 500\nrepair_rate = 0\n"
                                     << backends;
}

fault_run::~fault_run() {
  // Leave PostgreSQL running for the next test, whatever happened.
  pg_control("resume");
  if (pg_control("status >/dev/null") != 0) pg_control("start");
}

void fault_run::run(int steps) {
  plan_faults(steps);
  start();
  await_in_sync();
  auto created = call("PUT", "/v1/collections/c", R"({"dimension":4})");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  for (step_ = 0; step_ < steps; ++step_) {
    maybe_fault();
    random_operation();
  }
  end_faults();
  WARN("seed " << seed_ << ": " << steps << " operations, " << ambiguous_.size()
               << " documents with an unknown outcome to settle; faults:" << events_);
  settle_ambiguous();
  await_in_sync();
  compare_through_check();
  server_->stop();
  for (auto* only : {"postgres", "vectors"}) compare_alone(only);
}

void fault_run::run_cut_writes(int steps) {
  start({}, cut_config_);
  await_in_sync();
  auto created = call("PUT", "/v1/collections/c", R"({"dimension":4})");
  REQUIRE(created);
  REQUIRE(created->status == 201);
  for (step_ = 0; step_ < steps; ++step_) {
    auto pick = std::uniform_int_distribution<int>{0, 99}(rng_);
    if (pick < 70) upsert({random_id()});
    else remove(random_id());
  }
  cut_writes("cut-1", "cut-2");
  start({}, cut_config_);
  await_in_sync();
  auto found = check_job(false);
  INFO("seed " << seed_ << ": " << found.dump());
  REQUIRE_FALSE(found.at("consistent").get<bool>());
  auto differences = found.at("differences").get<uint64_t>();
  CHECK(differences >= 1);
  CHECK(found.dump().find("postgres missing") != std::string::npos);
  auto repaired = check_job(true);
  INFO("repair: " << repaired.dump());
  CHECK(repaired.at("repaired").get<uint64_t>() == repaired.at("differences").get<uint64_t>());
  CHECK(check_job(false).at("consistent").get<bool>());

  // The same cut, repaired by the background round alone.
  cut_writes("cut-3", "cut-4");
  start({}, background_config_);
  await_in_sync();
  REQUIRE(eventually([&] {
    auto m = call("GET", "/metrics");
    return m && metric(m->body, "lifeline_repair_repaired_total", {R"(backend="postgres")"}) >= 1
           && metric(m->body, "lifeline_repair_rounds_total", {R"(trigger="background")"}) >= 2;
  }, std::chrono::seconds(120)));
  CHECK(check_job(false).at("consistent").get<bool>());
  server_->stop();

  // The cut writes were never acknowledged: settle them, then every
  // acknowledged write must be on both backends.
  start();
  await_in_sync();
  settle_ambiguous();
  await_in_sync();
  compare_through_check();
  server_->stop();
  for (auto* only : {"postgres", "vectors"}) compare_alone(only);
}

void fault_run::run_past_cap(int steps) {
  config_ = data_.path() + "/cap.toml";
  std::ofstream{config_} << "attempt_timeout_ms = 300\nrequest_timeout_ms = 1500\n"
                         << "probe_interval_ms = 200\nprobe_timeout_ms = 500\n"
                         << "breaker_failures = 2\nbreaker_open_ms = 500\n"
                         << "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\n"
                         << "priority = 1\nhandoff_limit_mb = 1\nconninfo = \""
                         << serve_dsn(db_) << "\"\n"
                         << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 2\n";
  begin();
  for (step_ = 0; step_ < steps; ++step_) random_operation();
  REQUIRE(pg_control("kill") == 0);
  pg_fault_ = "kill";
  event("PostgreSQL killed; writes of about 8 KiB until its log passes 1 MiB");
  auto resets = [&] {
    auto m = call("GET", "/metrics");
    return m ? metric(m->body, "lifeline_handoff_log_resets_total",
                      {R"(backend="postgres")", R"(reason="limit")"})
             : 0.0;
  };
  // 1 MiB holds about 130 such writes: 400 pass it with a wide margin.
  int big = 0;
  for (; big < 400 && resets() < 1; ++big, ++step_) {
    upsert({random_id()}, 8192);
    random_operation();
  }
  INFO("seed " << seed_ << ": " << big << " large writes; faults:" << events_);
  // (Health's last_error says so too, until a probe's error replaces it.)
  REQUIRE(resets() >= 1);
  event("the log passed the cap after " + std::to_string(big) + " large writes");
  for (int i = 0; i < steps; ++i, ++step_) random_operation();
  event("kill -9 the server (PostgreSQL still down), start it again");
  server_->kill();
  start();
  for (int i = 0; i < steps; ++i, ++step_) random_operation();
  end_faults();
  finish();
}

void fault_run::run_damaged_logs(int steps) {
  begin();
  for (step_ = 0; step_ < steps; ++step_) random_operation();
  REQUIRE(pg_control("kill") == 0);
  pg_fault_ = "kill";
  event("PostgreSQL killed");
  for (int i = 0; i < steps; ++i, ++step_) random_operation();
  // At least two records in the log, so that valid ones follow the damage.
  for (int i = 0; i < 4; ++i, ++step_)
    REQUIRE(eventually([&] { return upsert({random_id()}); }));
  server_->kill();
  auto hints = data_.path() + "/handoff/postgres";
  event("kill -9 the server; " + damage_mid_log(largest_segment(hints)));
  end_faults();
  start();
  await_in_sync();
  CHECK(has_damaged(hints));
  auto m = call("GET", "/metrics");
  REQUIRE(m);
  CHECK(metric(m->body, "lifeline_handoff_log_resets_total",
               {R"(backend="postgres")", R"(reason="damaged")"}) >= 1);

  for (int i = 0; i < steps; ++i, ++step_) random_operation();
  for (int i = 0; i < 4; ++i, ++step_)
    REQUIRE(eventually([&] { return upsert({random_id()}); }));
  server_->kill();
  auto store = data_.path() + "/vectors";
  event("kill -9 the server; " + damage_mid_log(store + "/wal"));
  start();
  await_in_sync();
  CHECK(has_damaged(store));
  for (int i = 0; i < steps; ++i, ++step_) random_operation();
  finish();
}

void fault_run::begin() {
  start();
  await_in_sync();
  auto created = call("PUT", "/v1/collections/c", R"({"dimension":4})");
  REQUIRE(created);
  REQUIRE(created->status == 201);
}

void fault_run::finish() {
  WARN("seed " << seed_ << ": " << step_ << " operations, " << ambiguous_.size()
               << " documents with an unknown outcome to settle; faults:" << events_);
  await_in_sync();
  settle_ambiguous();
  await_in_sync();
  compare_through_check();
  server_->stop();
  for (auto* only : {"postgres", "vectors"}) compare_alone(only);
}

} // namespace lifeline::testing
