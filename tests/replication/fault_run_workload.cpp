// fault_run's workload: the random operations and the faults injected
// between them, the model of every acknowledged write they keep, and the
// comparison of each backend with that model at the end.
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

void fault_run::plan_faults(int steps) {
  std::vector<fault_kind> kinds{fault_kind::pg_kill,       fault_kind::pg_pause,
                                fault_kind::crash_vectors, fault_kind::kill_server,
                                fault_kind::restart_server};
  std::vector<fault_kind> plan;
  for (int round = 0; round < 3; ++round) plan.insert(plan.end(), kinds.begin(), kinds.end());
  std::shuffle(plan.begin(), plan.end(), rng_);
  int gap = steps / int(plan.size() + 1);
  for (size_t i = 0; i < plan.size(); ++i)
    schedule_[gap * int(i + 1) + int(rng_() % uint64_t(gap / 2))] = plan[i];
}

void fault_run::maybe_fault() {
  if (!pg_fault_.empty() && step_ >= pg_fault_end_) end_faults();
  auto it = schedule_.find(step_);
  if (it == schedule_.end()) return;
  switch (it->second) {
    case fault_kind::pg_kill:
    case fault_kind::pg_pause:
      end_faults();
      pg_fault_ = it->second == fault_kind::pg_kill ? "kill" : "pause";
      pg_fault_end_ = step_ + 5 + int(rng_() % 36);
      event("PostgreSQL " + pg_fault_ + " until step " + std::to_string(pg_fault_end_));
      REQUIRE(pg_control(pg_fault_) == 0);
      break;
    case fault_kind::crash_vectors:
      event("crash the vector backend's actor");
      (void)call("POST", "/v1/admin/backends/vectors/restart"); // 503 if it is down
      break;
    case fault_kind::kill_server:
      event("kill -9 the server, start it again");
      server_->kill();
      start();
      break;
    case fault_kind::restart_server:
      event("restart the server gracefully");
      CHECK(server_->stop() == 0);
      start();
      break;
  }
}

void fault_run::event(const std::string& what) {
  events_ += "\n  step " + std::to_string(step_) + ": " + what;
}

void fault_run::end_faults() {
  if (pg_fault_ == "kill") REQUIRE(pg_control("start") == 0);
  if (pg_fault_ == "pause") REQUIRE(pg_control("resume") == 0);
  if (!pg_fault_.empty()) event("PostgreSQL back");
  pg_fault_.clear();
}

void fault_run::random_operation() {
  auto pick = std::uniform_int_distribution<int>{0, 99}(rng_);
  if (pick < 55) upsert({random_id()});
  else if (pick < 65) upsert(random_ids(2 + int(rng_() % 4)));
  else if (pick < 85) remove(random_id());
  else read(random_id());
}

std::vector<std::string> fault_run::random_ids(int n) {
  std::set<std::string> ids;
  while (int(ids.size()) < n) ids.insert(random_id());
  return {ids.begin(), ids.end()};
}

json fault_run::document_json(const std::string& id, const std::string& content) {
  std::uniform_real_distribution<float> x{-1, 1};
  return json{{"id", id}, {"vector", {x(rng_), x(rng_), x(rng_), x(rng_)}}, {"content", content}};
}

bool fault_run::upsert(const std::vector<std::string>& ids, size_t padding) {
  auto content = "seed " + std::to_string(seed_) + " write " + std::to_string(++writes_);
  content += std::string(padding, char('a' + writes_ % 26));
  json batch = json::array();
  for (auto& id : ids) batch.push_back(document_json(id, content));
  auto r = ids.size() == 1
             ? call("PUT", "/v1/collections/c/documents/" + ids[0], batch[0].dump())
             : call("POST", "/v1/collections/c/documents", json{{"documents", batch}}.dump());
  if (r && r->status == 200) {
    auto version = json::parse(r->body).at("version").get<uint64_t>();
    for (auto& id : ids) {
      model_[id] = model_doc{true, version, content};
      ambiguous_.erase(id);
    }
    return true;
  }
  INFO("seed " << seed_ << " step " << step_ << ": " << (r ? r->body : "no reply"));
  REQUIRE((!r || r->status >= 500)); // valid input: never a 4xx
  for (auto& id : ids) ambiguous_.insert(id);
  return false;
}

void fault_run::remove(const std::string& id) {
  auto r = call("DELETE", "/v1/collections/c/documents/" + id);
  if (r && (r->status == 200 || r->status == 404)) {
    // 404: no backend held it live; either way it is deleted now.
    model_[id] = model_doc{false, 0, {}};
    ambiguous_.erase(id);
    return;
  }
  INFO("seed " << seed_ << " step " << step_ << ": " << (r ? r->body : "no reply"));
  REQUIRE((!r || r->status >= 500));
  ambiguous_.insert(id);
}

void fault_run::read(const std::string& id) {
  auto r = call("GET", "/v1/collections/c/documents/" + id);
  if (!r || r->status >= 500 || ambiguous_.count(id)) return;
  INFO("seed " << seed_ << " step " << step_ << ": GET " << id << " -> " << r->status << " "
               << r->body << " via " << r->header("x-served-by"));
  check_read(model_, id, *r);
}

void fault_run::settle_ambiguous() {
  for (auto id : std::set<std::string>{ambiguous_}) {
    INFO("seed " << seed_ << ": settling " << id);
    REQUIRE(eventually([&] { return upsert({id}); }));
  }
  REQUIRE(ambiguous_.empty());
}

size_t fault_run::live_count() const {
  size_t n = 0;
  for (auto& [id, d] : model_) n += d.live ? 1 : 0;
  return n;
}

void fault_run::compare_through_check() {
  auto r = call("GET", "/v1/admin/check");
  REQUIRE(r);
  INFO("seed " << seed_ << ": " << r->body);
  REQUIRE(r->status == 200);
  auto report = json::parse(r->body);
  CHECK(report.at("consistent").get<bool>());
  REQUIRE(report.at("collections").size() == 1);
  for (auto& [backend, count] : report.at("collections")[0].at("counts").items())
    CHECK(count.get<size_t>() == live_count());
  // The operator command says the same, with its exit code.
  auto command = std::string{LIFELINE_SERVER} + " check --url http://127.0.0.1:"
                 + std::to_string(server_->port()) + " >/dev/null";
  auto status = std::system(command.c_str());
  CHECK(WEXITSTATUS(status) == 0);
}

void fault_run::compare_alone(const std::string& backend) {
  start({"--backends", backend});
  await_in_sync();
  INFO("seed " << seed_ << ": reading from " << backend << " alone");
  auto stats = call("GET", "/v1/collections/c");
  REQUIRE(stats);
  REQUIRE(stats->status == 200);
  CHECK(json::parse(stats->body).at("count").get<size_t>() == live_count());
  for (auto& [id, want] : model_) {
    auto r = call("GET", "/v1/collections/c/documents/" + id);
    REQUIRE(r);
    INFO(id << " -> " << r->status << " " << r->body);
    if (!want.live) {
      CHECK(r->status == 404);
      continue;
    }
    REQUIRE(r->status == 200);
    auto doc = json::parse(r->body);
    CHECK(doc.at("version").get<uint64_t>() == want.version);
    CHECK(doc.at("content").get<std::string>() == want.content);
  }
  CHECK(server_->stop() == 0);
}

} // namespace lifeline::testing
