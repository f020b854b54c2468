// Checks as jobs through the real `lifeline serve` binary (issue 12): POST
// /v1/admin/check starts one and answers 202 with its status URL, GET on
// that URL shows its progress and then its report, GET /v1/admin/check
// still answers the report, and `lifeline check [--repair]` polls a job.
// Two in-memory backends, so it needs no PostgreSQL.
#include "support/eventually.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sys/wait.h>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

bool has(const http_response& r, const std::string& text) {
  return r.body.find(text) != std::string::npos;
}

/// The status URL of a 202 reply.
std::string status_url(const http_response& r) {
  auto at = r.body.find(R"("status":")");
  REQUIRE(at != std::string::npos);
  at += 10;
  return r.body.substr(at, r.body.find('"', at) - at);
}

struct memory_server {
  temp_dir data;
  std::string token_file = data.path() + "/admin-token";
  std::string config = data.path() + "/lifeline.toml";
  http_headers auth{{"Authorization", "Bearer adm1n-token"}};
  std::unique_ptr<server_process> server;

  memory_server() {
    std::ofstream{token_file} << "adm1n-token\n";
    std::ofstream{config} << "repair_interval_ms = 0\n"
                          << "[[backends]]\nname = \"one\"\nkind = \"memory\"\npriority = 1\n"
                          << "[[backends]]\nname = \"two\"\nkind = \"memory\"\npriority = 2\n";
    server = std::make_unique<server_process>(std::vector<std::string>{
      "--config", config, "--data-dir", data.path(), "--admin-token-file", token_file});
  }

  /// Polls a job until it is done; returns its last status.
  http_response finished(http_client& c, const std::string& url) {
    http_response last;
    REQUIRE(eventually([&] {
      last = c.request("GET", url, "", auth);
      REQUIRE(last.status == 200);
      return has(last, R"("state":"done")");
    }));
    return last;
  }
};

} // namespace

TEST_CASE("http: repair: a check runs as a job with a status endpoint", "[http][repair]") {
  memory_server s;
  auto c = local_client(s.server->port());
  REQUIRE(eventually([&] { return has(c.request("GET", "/v1/health"), R"("status":"ok")"); }));
  REQUIRE(c.request("PUT", "/v1/collections/j", R"({"dimension":2})").status == 201);
  REQUIRE(c.request("PUT", "/v1/collections/j/documents/a", R"({"vector":[1,2]})").status == 200);

  // The admin token rule, as on every admin route.
  CHECK(c.request("POST", "/v1/admin/check").status == 401);
  CHECK(c.request("GET", "/v1/admin/check/1").status == 401);
  CHECK(c.request("GET", "/v1/admin/check").status == 401);

  auto started = c.request("POST", "/v1/admin/check", "", s.auth);
  REQUIRE(started.status == 202);
  auto url = status_url(started);
  CHECK(url.rfind("/v1/admin/check/", 0) == 0);
  CHECK(started.header("location") == url);
  auto done = s.finished(c, url);
  CHECK(has(done, R"("repair":false)"));
  CHECK(has(done, R"("trigger":"request")"));
  CHECK(has(done, R"("collections_done":1,"collections_total":1)"));
  CHECK(has(done, R"("ids_compared":1)"));
  CHECK(has(done, R"("consistent":true)"));
  CHECK(has(done, R"("counts":{"one":1,"two":1})"));

  auto repair = c.request("POST", "/v1/admin/check?repair=true", "", s.auth);
  REQUIRE(repair.status == 202);
  CHECK(has(s.finished(c, status_url(repair)), R"("repair":true)"));
  auto by_body = c.request("POST", "/v1/admin/check", R"({"repair":true})", s.auth);
  REQUIRE(by_body.status == 202);
  CHECK(has(s.finished(c, status_url(by_body)), R"("repair":true)"));

  CHECK(c.request("POST", "/v1/admin/check?repair=maybe", "", s.auth).status == 400);
  CHECK(c.request("POST", "/v1/admin/check", R"({"fix":true})", s.auth).status == 400);
  auto unknown = c.request("GET", "/v1/admin/check/987654", "", s.auth);
  CHECK(unknown.status == 404);
  CHECK(unknown.header("content-type") == "application/problem+json");
  CHECK(c.request("GET", "/v1/admin/check/not-a-job", "", s.auth).status == 404);
  CHECK(c.request("DELETE", "/v1/admin/check/1", "", s.auth).status == 405);

  // The one-shot form still answers the report (the job is quick here).
  auto legacy = c.request("GET", "/v1/admin/check", "", s.auth);
  CHECK(legacy.status == 200);
  CHECK(has(legacy, R"("consistent":true)"));

  // The operator command polls a job and prints the report.
  for (auto flag : {"", " --repair"}) {
    auto command = std::string{LIFELINE_SERVER} + " check --url http://127.0.0.1:"
                   + std::to_string(s.server->port()) + " --token-file " + s.token_file + flag
                   + " >/dev/null 2>&1";
    auto status = std::system(command.c_str());
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto metrics = c.request("GET", "/metrics");
  CHECK(has(metrics, R"(lifeline_repair_rounds_total{kind="repair",trigger="request"} 3)"));
  CHECK(has(metrics, "lifeline_repair_ranges_total"));
  CHECK(s.server->stop() == 0);
}
