// The HTTP contract against the real `lifeline serve` binary, the private
// PostgreSQL and a vector store on disk.
#include "support/eventually.hpp"
#include "support/postgres_env.hpp"
#include "support/raw_socket.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <random>

using namespace lifeline;
using namespace lifeline::testing;

namespace {


/// Leaves PostgreSQL running, whatever the test did.
struct pg_guard {
  ~pg_guard() {
    pg_control("resume");
    if (pg_control("status >/dev/null") != 0) pg_control("start");
  }
};

bool is_problem(const http_response& r) {
  return r.header("content-type") == "application/problem+json"
         && r.body.find("\"status\":" + std::to_string(r.status)) != std::string::npos;
}

/// Waits until every backend serves reads (on a first start the vector
/// store is rebuilt from PostgreSQL, in the background).
void await_in_sync(http_client& c) {
  REQUIRE(eventually([&] {
    return c.request("GET", "/v1/health").body.find(R"("status":"ok")") != std::string::npos;
  }));
}

} // namespace

TEST_CASE("http: the contract", "[http]") {
  temp_dir data;
  scratch_database db;
  server_process server{{"--data-dir", data.path(), "--postgres", serve_dsn(db)}};
  auto c = local_client(server.port());
  await_in_sync(c);
  auto coll = "/v1/collections/" + unique_collection("http");

  auto created = c.request("PUT", coll, R"({"dimension":3,"metric":"l2"})");
  CHECK(created.status == 201);
  CHECK(created.header("x-served-by") == "postgres, vectors");
  CHECK(c.request("PUT", coll, R"({"dimension":3,"metric":"l2"})").status == 200);
  auto conflict = c.request("PUT", coll, R"({"dimension":4,"metric":"l2"})");
  CHECK(conflict.status == 409);
  CHECK(is_problem(conflict));

  auto put = c.request("PUT", coll + "/documents/a",
                       R"({"vector":[1,0,0],"content":"A","metadata":{"tag":"x"}})");
  CHECK(put.status == 200);
  CHECK(put.body.find(R"("backends":{"postgres":"applied","vectors":"applied"})") != std::string::npos);
  auto version = put.body.substr(put.body.find(R"("version":)") + 10);
  version = version.substr(0, version.find(','));
  auto batch = c.request("POST", coll + "/documents",
                         R"({"documents":[{"id":"b","vector":[0,1,0]},{"id":"c","vector":[0,0,2],"content":"C"}]})");
  CHECK(batch.status == 200);
  CHECK(batch.body.find(R"("count":2)") != std::string::npos);

  auto got = c.request("GET", coll + "/documents/a");
  CHECK(got.status == 200);
  CHECK(got.header("x-served-by") == "postgres");
  CHECK(got.body == R"({"id":"a","vector":[1,0,0],"content":"A","metadata":{"tag":"x"},"version":)"
                       + version + "}");

  auto found = c.request("POST", coll + "/search", R"({"vector":[0.9,0.1,0],"k":2,"ef":32})");
  CHECK(found.status == 200);
  CHECK(found.body.find(R"({"results":[{"id":"a")") == 0);
  CHECK(found.body.find(R"("id":"b")") != std::string::npos);

  auto stats = c.request("GET", coll);
  CHECK(stats.status == 200);
  CHECK(stats.body.find(R"("count":3)") != std::string::npos);
  CHECK(c.request("GET", "/v1/collections").body.find(coll.substr(16)) != std::string::npos);

  CHECK(c.request("DELETE", coll + "/documents/b").status == 200);
  auto gone = c.request("GET", coll + "/documents/b");
  CHECK(gone.status == 404);
  CHECK(is_problem(gone));
  CHECK(c.request("DELETE", coll + "/documents/b").status == 404);

  auto wrong = c.request("PATCH", coll + "/documents/a");
  CHECK(wrong.status == 405);
  CHECK(wrong.header("allow") == "GET, PUT, DELETE");
  CHECK(c.request("GET", "/v2/nothing").status == 404);

  auto health = c.request("GET", "/v1/health");
  CHECK(health.status == 200);
  CHECK(health.body.find(R"("status":"ok")") != std::string::npos);
  CHECK(health.body.find(R"("kind":"hnsw")") != std::string::npos);
  auto metrics = c.request("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("lifeline_backend_requests_total") != std::string::npos);
  CHECK(metrics.body.find("lifeline_http_requests_total") != std::string::npos);

  CHECK(c.request("DELETE", coll).status == 200);
  CHECK(c.request("GET", coll).status == 404);
  CHECK(server.stop() == 0); // graceful shutdown exits 0
}

TEST_CASE("http: PostgreSQL down: reads still 200 from the vector store, health degraded",
          "[http][failover]") {
  pg_guard guard;
  temp_dir data;
  scratch_database db;
  server_process server{{"--data-dir", data.path(), "--postgres", serve_dsn(db), "--attempt-timeout-ms", "300"}};
  auto c = local_client(server.port());
  await_in_sync(c);
  auto coll = "/v1/collections/" + unique_collection("partial");
  REQUIRE(c.request("PUT", coll, R"({"dimension":2})").status == 201);
  REQUIRE(c.request("PUT", coll + "/documents/a", R"({"vector":[1,2]})").status == 200);
  REQUIRE(c.request("GET", coll + "/documents/a").header("x-served-by") == "postgres");
  REQUIRE(pg_control("kill") == 0);
  for (int i = 0; i < 10; ++i) {
    auto r = c.request("GET", coll + "/documents/a");
    REQUIRE(r.status == 200);
    CHECK(r.header("x-served-by") == "vectors");
    auto s = c.request("POST", coll + "/search", R"({"vector":[1,2],"k":1})");
    REQUIRE(s.status == 200);
    CHECK(s.header("x-served-by") == "vectors");
  }
  auto health = c.request("GET", "/v1/health");
  CHECK(health.status == 200);
  CHECK(health.body.find(R"("status":"degraded")") != std::string::npos);
  REQUIRE(pg_control("start") == 0);
  CHECK(eventually([&] { return c.request("GET", coll + "/documents/a").header("x-served-by") == "postgres"; }));
  CHECK(server.stop() == 0);
}

TEST_CASE("http: every backend down: 503 with Retry-After naming each, recovery without a "
          "restart",
          "[http][failover]") {
  pg_guard guard;
  temp_dir data;
  // Two PostgreSQL backends (a primary and a replica: two databases of the
  // same server).
  scratch_database primary_db, replica_db;
  auto config = data.path() + "/lifeline.toml";
  std::ofstream{config} << "attempt_timeout_ms = 300\nprobe_interval_ms = 200\n"
                        << "[[backends]]\nname = \"primary\"\nkind = \"postgres\"\npriority = 1\nconninfo = \""
                        << serve_dsn(primary_db) << "\"\n"
                        << "[[backends]]\nname = \"replica\"\nkind = \"postgres\"\npriority = 2\nconninfo = \""
                        << serve_dsn(replica_db) << "\"\npool_size = 2\n";
  server_process server{{"--config", config, "--data-dir", data.path()}};
  auto c = local_client(server.port());
  await_in_sync(c);
  auto coll = "/v1/collections/" + unique_collection("total");
  REQUIRE(c.request("PUT", coll, R"({"dimension":2})").status == 201);
  REQUIRE(c.request("PUT", coll + "/documents/a", R"({"vector":[1,2]})").status == 200);
  REQUIRE(pg_control("kill") == 0);
  auto r = c.request("GET", coll + "/documents/a");
  CHECK(r.status == 503);
  CHECK(is_problem(r));
  CHECK(!r.header("retry-after").empty());
  CHECK(r.body.find(R"("name":"primary")") != std::string::npos);
  CHECK(r.body.find(R"("name":"replica")") != std::string::npos);
  auto health = c.request("GET", "/v1/health");
  CHECK(health.status == 503);
  CHECK(health.body.find(R"("status":"unavailable")") != std::string::npos);
  REQUIRE(pg_control("start") == 0);
  CHECK(eventually([&] { return c.request("GET", coll + "/documents/a").status == 200; }));
  CHECK(server.stop() == 0);
}

TEST_CASE("http: 200 hostile requests are all answered 4xx and the server stays healthy",
          "[http][hostile]") {
  temp_dir data;
  auto config = data.path() + "/lifeline.toml";
  std::ofstream{config} << "body_limit_bytes = 65536\nmax_batch = 10\n"
                        << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\n";
  server_process server{{"--config", config, "--data-dir", data.path()}};
  auto c = local_client(server.port());
  REQUIRE(c.request("PUT", "/v1/collections/h", R"({"dimension":2})").status == 201);
  std::vector<std::pair<std::string, std::string>> cases = {
    {"/v1/collections/h/documents/a", "{"},
    {"/v1/collections/h/documents/a", R"({"vector":[1,2)"},
    {"/v1/collections/h/documents/a", "null"},
    {"/v1/collections/h/documents/a", "[]"},
    {"/v1/collections/h/documents/a", R"({"vector":"12"})"},
    {"/v1/collections/h/documents/a", R"({"vector":[1,"2"]})"},
    {"/v1/collections/h/documents/a", R"({"vector":[1,2,3]})"},
    {"/v1/collections/h/documents/a", R"({"vector":[1e400,2]})"},
    {"/v1/collections/h/documents/a", R"({"vector":[1e39,2]})"},
    {"/v1/collections/h/documents/a", R"({"vector":[1,2],"content":5})"},
    {"/v1/collections/h/documents/a", R"({"vector":[1,2],"metadata":[1]})"},
    {"/v1/collections/h/documents/a", R"({"vector":[1,2],"extra":1})"},
    {"/v1/collections/h/documents/a", R"({"content":"no vector"})"},
    {"/v1/collections/h/documents/a", std::string(200000, '[')},
    {"/v1/collections/h/documents/a", R"({"vector":[1,2],"metadata":)" + std::string(100, '{') + std::string(100, '}') + "}"},
    {"/v1/collections/h/documents/%00", R"({"vector":[1,2]})"},
    {"/v1/collections/h/documents/%ff%fe", R"({"vector":[1,2]})"},
    {"/v1/collections/h/documents/a%01b", R"({"vector":[1,2]})"},
    {"/v1/collections/h/documents/%1b%5b31m", R"({"vector":[1,2]})"},
    {"/v1/collections/h/documents/%zz", R"({"vector":[1,2]})"},
    {"/v1/collections/h/documents/" + std::string(2000, 'x'), R"({"vector":[1,2]})"},
    {"/v1/collections/bad%20name", R"({"dimension":2})"},
    {"/v1/collections/h2", R"({"dimension":-1})"},
    {"/v1/collections/h2", R"({"dimension":99999999999999999999})"},
    {"/v1/collections/h2", R"({"dimension":2,"metric":"manhattan"})"},
    {"/v1/collections/h/search", R"({"vector":[1,2],"k":0})"},
    {"/v1/collections/h/search", R"({"vector":[1,2],"k":100001})"},
    {"/v1/collections/h/search", R"({"vector":[1,2],"k":1.5})"},
    {"/v1/collections/h/search", R"({"vector":[1,2],"ef":-3})"},
    {"/v1/collections/h/search", R"({"k":3})"},
    {"/v1/collections/h/documents", R"({"documents":{}})"},
    {"/v1/collections/h/documents", R"({"documents":[{"vector":[1,2]}]})"},
    {"/v1/collections/h/documents", R"({"documents":[1,2,3]})"},
    {"/v1/collections/h/documents", std::string(70000, ' ')},
  };
  std::string many = R"({"documents":[)";
  for (int i = 0; i < 11; ++i) many += std::string(i ? "," : "") + R"({"id":"d)" + std::to_string(i) + R"(","vector":[1,2]})";
  cases.push_back({"/v1/collections/h/documents", many + "]}"});
  std::mt19937 rng{5};
  int sent = 0, fourxx = 0;
  while (sent < 200) {
    auto& [target, body] = cases[size_t(sent) % cases.size()];
    bool post = target.find("/search") != std::string::npos
                || (target.size() >= 10 && target.substr(target.size() - 10) == "/documents");
    // Every third request also gets random control and unicode bytes mixed in.
    auto b = body;
    if (sent % 3 == 2 && !b.empty()) b.insert(rng() % b.size(), sent % 2 ? "\x01\x7f\xc3" : "é\x1b");
    auto r = c.request(post ? "POST" : "PUT", target, b);
    INFO(target.substr(0, 80) << " " << b.substr(0, 80) << " -> " << r.status << " " << r.body.substr(0, 200));
    CHECK(r.status >= 400);
    CHECK(r.status < 500);
    fourxx += (r.status >= 400 && r.status < 500) ? 1 : 0;
    ++sent;
  }
  CHECK(fourxx == 200);
  raw_socket garbage{server.port()};
  garbage.send("NOT HTTP AT ALL\r\n\r\n");
  CHECK(status_of(garbage.read_until_closed().bytes) == 400);
  CHECK(c.request("GET", "/v1/health").status == 200);
  CHECK(c.request("GET", "/v1/collections/h").body.find(R"("count":0)") != std::string::npos);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: a bearer token guards every route but health and metrics", "[http]") {
  temp_dir data;
  auto token_file = data.path() + "/token";
  std::ofstream{token_file} << "s3cret-token\n";
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--token-file", token_file}};
  auto c = local_client(server.port());
  auto denied = c.request("GET", "/v1/collections");
  CHECK(denied.status == 401);
  CHECK(is_problem(denied));
  CHECK(c.request("GET", "/v1/collections", "", {{"Authorization", "Bearer wrong-token!"}}).status == 401);
  CHECK(c.request("GET", "/v1/collections", "", {{"Authorization", "Bearer s3cret-token"}}).status == 200);
  CHECK(c.request("GET", "/v1/health").status == 200);
  CHECK(c.request("GET", "/metrics").status == 200);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: an operator stops a backend and starts it again", "[http][admin]") {
  temp_dir data;
  auto token_file = data.path() + "/token";
  std::ofstream{token_file} << "s3cret-token\n";
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--token-file", token_file}};
  auto c = local_client(server.port());
  http_headers auth{{"Authorization", "Bearer s3cret-token"}};
  await_in_sync(c);
  REQUIRE(c.request("PUT", "/v1/collections/m", R"({"dimension":2})", auth).status == 201);
  REQUIRE(c.request("GET", "/v1/collections/m", "", auth).status == 200);

  CHECK(c.request("POST", "/v1/admin/backends/vectors/stop").status == 401);
  CHECK(c.request("POST", "/v1/admin/backends/vectors/start").status == 401);
  auto wrong = c.request("GET", "/v1/admin/backends/vectors/stop", "", auth);
  CHECK(wrong.status == 405);
  CHECK(wrong.header("allow") == "POST");
  for (auto action : {"stop", "start"}) {
    auto unknown = c.request("POST", std::string{"/v1/admin/backends/nope/"} + action, "", auth);
    CHECK(unknown.status == 404);
    CHECK(is_problem(unknown));
    CHECK(unknown.body.find("nope") != std::string::npos);
  }

  for (int i = 0; i < 2; ++i) { // idempotent
    auto stopped = c.request("POST", "/v1/admin/backends/vectors/stop", "", auth);
    CHECK(stopped.status == 202);
    CHECK(stopped.body == R"({"stopping":"vectors"})");
    // Error texts only with the token (GitHub issue 11).
    auto health = c.request("GET", "/v1/health", "", auth);
    CHECK(health.status == 503);
    CHECK(health.body.find(R"("state":"stopped")") != std::string::npos);
    CHECK(health.body.find("stopped by an operator") != std::string::npos);
  }
  // Its only backend is out of service: reads are refused, not queued.
  auto refused = c.request("GET", "/v1/collections/m", "", auth);
  CHECK(refused.status == 503);
  CHECK(refused.body.find("stopped by an operator") != std::string::npos);

  for (int i = 0; i < 2; ++i) { // idempotent
    auto started = c.request("POST", "/v1/admin/backends/vectors/start", "", auth);
    CHECK(started.status == 202);
    CHECK(started.body == R"({"starting":"vectors"})");
    await_in_sync(c);
  }
  auto health = c.request("GET", "/v1/health");
  CHECK(health.body.find(R"("state":"up")") != std::string::npos);
  CHECK(c.request("GET", "/v1/collections/m", "", auth).status == 200);
  CHECK(server.stop() == 0);
}
