#include "metrics/prometheus_metrics.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

std::string with_every_series() {
  prometheus_metrics m;
  m.backend_call(operation::get, "postgres", call_outcome::success, 2ms);
  m.backend_call(operation::get, "postgres", call_outcome::failure, 30ms);
  m.backend_call(operation::search, "vectors", call_outcome::timeout, 1s);
  m.fallback(operation::get, "postgres", "vectors", fallback_reason::unhealthy);
  m.outage(operation::search);
  m.lifecycle("postgres", lifecycle_state::up);
  m.lifecycle("vectors", lifecycle_state::restarting);
  m.circuit("postgres", circuit_state::open);
  m.restart("vectors");
  m.in_flight(operation::get, +1);
  m.replica("vectors", replica_state::catching_up);
  m.handoff("vectors", handoff_event::appended, 3);
  m.handoff("vectors", handoff_event::replayed, 2);
  m.handoff_pending("vectors", 1);
  m.rebuild_copied("postgres", 40);
  m.rebuild_skipped("postgres", 2);
  m.shed(operation::get, "postgres");
  return m.render();
}

} // namespace

TEST_CASE("prometheus metrics: every series is rendered with its labels", "[metrics]") {
  auto text = with_every_series();
  for (auto* want : {
         R"(lifeline_backend_requests_total{backend="postgres",operation="get",outcome="success"} 1)",
         R"(lifeline_backend_shed_total{backend="postgres",operation="get"} 1)",
         R"(lifeline_rebuild_skipped_total{backend="postgres"} 2)",
         R"(lifeline_backend_requests_total{backend="vectors",operation="search",outcome="timeout"} 1)",
         R"(lifeline_backend_request_duration_seconds_count{backend="postgres",operation="get"} 2)",
         R"(lifeline_fallbacks_total{from="postgres",operation="get",reason="unhealthy",to="vectors"} 1)",
         R"(lifeline_outages_total{operation="search"} 1)",
         R"(lifeline_backend_up{backend="postgres"} 1)",
         R"(lifeline_backend_up{backend="vectors"} 0)",
         R"(lifeline_backend_circuit_state{backend="postgres",state="open"} 1)",
         R"(lifeline_backend_circuit_state{backend="postgres",state="closed"} 0)",
         R"(lifeline_backend_restarts_total{backend="vectors"} 1)",
         R"(lifeline_requests_in_flight{operation="get"} 1)",
         R"(lifeline_backend_replica_state{backend="vectors",state="catching_up"} 1)",
         R"(lifeline_backend_replica_state{backend="vectors",state="in_sync"} 0)",
         R"(lifeline_handoff_entries_total{backend="vectors",event="appended"} 3)",
         R"(lifeline_handoff_entries_total{backend="vectors",event="replayed"} 2)",
         R"(lifeline_handoff_pending{backend="vectors"} 1)",
         R"(lifeline_rebuild_documents_total{backend="postgres"} 40)",
       }) {
    INFO(want);
    CHECK(text.find(want) != std::string::npos);
  }
}

TEST_CASE("prometheus metrics: every known label set is exported at zero before its first event",
          "[metrics]") {
  prometheus_metrics m;
  m.known_backends({"postgres", "vectors"});
  auto text = m.render();
  for (auto* want : {
         R"(lifeline_backend_restarts_total{backend="vectors"} 0)",
         R"(lifeline_outages_total{operation="get"} 0)",
         R"(lifeline_outages_total{operation="search"} 0)",
         R"(lifeline_fallbacks_total{from="postgres",operation="get",reason="unhealthy",to="vectors"} 0)",
         R"(lifeline_fallbacks_total{from="vectors",operation="search",reason="catching_up",to="postgres"} 0)",
         R"(lifeline_backend_requests_total{backend="postgres",operation="get",outcome="failure"} 0)",
         R"(lifeline_backend_request_duration_seconds_count{backend="vectors",operation="search"} 0)",
         R"(lifeline_handoff_entries_total{backend="postgres",event="appended"} 0)",
         R"(lifeline_hedges_total{backend="vectors",operation="get"} 0)",
         R"(lifeline_repair_rounds_total{kind="repair",trigger="background"} 0)",
         R"(lifeline_backend_circuit_state{backend="postgres",state="closed"} 1)",
         R"(lifeline_backend_circuit_state{backend="postgres",state="open"} 0)",
         R"(lifeline_recovery_eta_seconds{backend="vectors"} -1)",
       }) {
    INFO(want);
    CHECK(text.find(want) != std::string::npos);
  }
  // No series of a backend to itself, and gauges are left to their first
  // report (an "up" of 0 before the first would read as down).
  CHECK(text.find(R"(from="postgres",operation="get",reason="failed",to="postgres")") ==
        std::string::npos);
  CHECK(text.find("lifeline_backend_up{") == std::string::npos);
  // Called again (a backend joined), nothing is reset.
  m.restart("vectors");
  m.circuit("vectors", circuit_state::open);
  m.known_backends({"postgres", "vectors", "vectors@n2"});
  text = m.render();
  CHECK(text.find(R"(lifeline_backend_restarts_total{backend="vectors"} 1)") != std::string::npos);
  CHECK(text.find(R"(lifeline_backend_restarts_total{backend="vectors@n2"} 0)") != std::string::npos);
  CHECK(text.find(R"(lifeline_backend_circuit_state{backend="vectors",state="open"} 1)") !=
        std::string::npos);
}

TEST_CASE("prometheus metrics: promtool check metrics finds nothing to complain about",
          "[metrics]") {
  temp_dir dir;
  auto file = dir.path() + "/metrics.txt";
  std::ofstream{file} << with_every_series();
  auto cmd = "promtool check metrics < " + file + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int status = ::pclose(p);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.empty());
}

// docs/METRICS.md and the Grafana dashboard must stay true to the code.
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

namespace {

std::set<std::string> metric_names(const std::string& text) {
  static const std::regex name{R"(lifeline_[a-z_]+)"};
  std::set<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator(); ++it) {
    auto n = it->str();
    for (auto suffix : {"_bucket", "_count", "_sum"})
      if (n.size() > std::strlen(suffix) && n.ends_with(suffix)
          && n.find("_seconds") != std::string::npos)
        n.resize(n.size() - std::strlen(suffix));
    out.insert(n);
  }
  return out;
}

std::string read(const std::string& path) {
  std::ifstream in{path};
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace

TEST_CASE("docs: every exported series is in METRICS.md, and the dashboard uses only those",
          "[metrics][docs]") {
  auto documented = metric_names(read(LIFELINE_SOURCE_DIR "/docs/METRICS.md"));
  for (auto& name : metric_names(with_every_series())) {
    INFO(name << " is exported but not in docs/METRICS.md");
    CHECK(documented.count(name) == 1);
  }
  auto dashboard = nlohmann::json::parse(read(LIFELINE_SOURCE_DIR "/docs/grafana-dashboard.json"));
  size_t exprs = 0;
  for (auto& panel : dashboard.at("panels"))
    for (auto& target : panel.at("targets")) {
      ++exprs;
      for (auto& name : metric_names(target.at("expr").get<std::string>())) {
        INFO(name << " is used by the dashboard but not in docs/METRICS.md");
        CHECK(documented.count(name) == 1);
      }
    }
  CHECK(exprs >= 8);
}
