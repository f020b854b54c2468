// fault_run's control of the real server: starting it, calling it, waiting
// for the backends to be in sync, check jobs, cutting writes between their
// two sends, and damaging a log mid-file.
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

std::vector<size_t> fault_run::record_offsets(const std::string& bytes) {
  std::vector<size_t> offsets;
  size_t at = 0;
  while (at + 8 <= bytes.size()) {
    uint32_t len = 0;
    std::memcpy(&len, bytes.data() + at, 4);
    if (len == 0 || len > bytes.size() - at - 8) break;
    offsets.push_back(at);
    at += 8 + len;
  }
  return offsets;
}

std::string fault_run::read_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

std::string fault_run::largest_segment(const std::string& directory) {
  std::string best;
  size_t most = 0;
  for (auto& e : std::filesystem::directory_iterator{directory}) {
    auto name = e.path().filename().string();
    if (name.rfind("hints-", 0) != 0 || !name.ends_with(".log")) continue;
    auto n = record_offsets(read_bytes(e.path().string())).size();
    if (n > most) most = n, best = e.path().string();
  }
  INFO("no handoff segment with records in " << directory);
  REQUIRE(most > 0);
  return best;
}

std::string fault_run::damage_mid_log(const std::string& path) {
  auto offsets = record_offsets(read_bytes(path));
  INFO(path << " holds " << offsets.size() << " records");
  REQUIRE(offsets.size() >= 2);
  auto victim = offsets[(offsets.size() - 1) / 2];
  std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
  f.seekg(std::streamoff(victim + 8));
  char c = 0;
  f.get(c);
  f.seekp(std::streamoff(victim + 8));
  f.put(char(c ^ 0x5a));
  REQUIRE(f.good());
  return "damaged record " + std::to_string((offsets.size() - 1) / 2) + " of "
         + std::to_string(offsets.size()) + " in " + path;
}

bool fault_run::has_damaged(const std::string& directory) {
  for (auto& e : std::filesystem::directory_iterator{directory})
    if (e.path().filename().string().ends_with(".damaged")) return true;
  return false;
}

void fault_run::start(std::vector<std::string> extra, std::string config) {
  std::vector<std::string> args{"--config", config.empty() ? config_ : config, "--data-dir",
                                data_.path(), "--log-level", "warn"};
  args.insert(args.end(), extra.begin(), extra.end());
  server_ = std::make_unique<server_process>(args);
  client_ = std::make_unique<http_client>(local_client(server_->port()));
}

std::optional<http_response> fault_run::call(const std::string& method,
                                             const std::string& target, const std::string& body) {
  try {
    return client_->request(method, target, body);
  } catch (const api::http_error&) {
    return std::nullopt; // no reply; the next call opens a new connection
  }
}

void fault_run::await_in_sync() {
  INFO("seed " << seed_ << ": the backends did not all come back in sync");
  REQUIRE(eventually([&] {
    auto h = call("GET", "/v1/health");
    return h && h->status == 200 && h->body.find(R"("status":"ok")") != std::string::npos
           && h->body.find(R"("pending":0,)") != std::string::npos;
  }));
}

double fault_run::metric(const std::string& text, const std::string& name,
                         std::vector<std::string> labels) {
  double sum = 0;
  size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    auto line = text.substr(at, end - at);
    at = end + 1;
    if (line.rfind(name + "{", 0) != 0) continue;
    bool all = true;
    for (auto& l : labels) all = all && line.find(l) != std::string::npos;
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

json fault_run::check_job(bool repair) {
  auto r = call("POST", std::string{"/v1/admin/check"} + (repair ? "?repair=true" : ""));
  REQUIRE(r);
  REQUIRE(r->status == 202);
  auto url = json::parse(r->body).at("status").get<std::string>();
  json status;
  REQUIRE(eventually([&] {
    auto s = call("GET", url);
    if (!s || s->status != 200) return false;
    status = json::parse(s->body);
    return status.at("state") == "done";
  }, std::chrono::seconds(120)));
  return status.at("report");
}

void fault_run::cut_writes(const std::string& first, const std::string& second) {
  auto upserts = [&] {
    auto m = call("GET", "/metrics");
    return m ? metric(m->body, "lifeline_backend_requests_total",
                      {R"(backend="vectors")", R"(operation="upsert")", R"(outcome="success")"})
             : -1.0;
  };
  auto before = upserts();
  REQUIRE(before >= 0);
  REQUIRE(pg_control("pause") == 0);
  pg_fault_ = "pause";
  auto port = server_->port();
  auto write = [port](std::string id, std::string body) {
    return std::thread([port, id, body] {
      try {
        local_client(port).request("PUT", "/v1/collections/c/documents/" + id, body);
      } catch (const std::exception&) {
        // The server is killed under it: no reply is expected.
      }
    });
  };
  auto w1 = write(first, document_json(first, "cut " + first).dump());
  REQUIRE(eventually([&] { return upserts() >= before + 1; }));
  auto w2 = write(second, document_json(second, "cut " + second).dump());
  REQUIRE(eventually([&] { return upserts() >= before + 2; }));
  server_->kill();
  w1.join();
  w2.join();
  ambiguous_.insert(first);
  ambiguous_.insert(second);
  REQUIRE(pg_control("resume") == 0);
  pg_fault_.clear();
  event("writes " + first + " and " + second + " cut between their sends by kill -9");
}

} // namespace lifeline::testing
