// Hostile clients against the real `lifeline serve` (issue 11): names that
// hide a NUL or a slash, made-up methods, token handling, stalled and
// flooding clients, overload. Each case fails if its defect comes back.
#include "support/eventually.hpp"
#include "support/postgres_env.hpp"
#include "support/raw_socket.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <set>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

std::string bearer(const std::string& token) { return "Bearer " + token; }

/// Raises this process's own descriptor limit (the flood needs thousands).
void raise_own_file_limit(rlim_t want) {
  rlimit rl{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  rl.rlim_cur = std::min(std::max(rl.rlim_cur, want), rl.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
  REQUIRE(rl.rlim_cur >= want);
}

/// CPU seconds (user + system) the process has used so far.
double cpu_seconds(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string stat{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  // Fields after the command name (in parentheses, may hold spaces).
  std::istringstream rest{stat.substr(stat.rfind(')') + 2)};
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

/// The value of the first sample of `series` (exact label text) in /metrics.
double scrape(http_client& c, const std::string& series) {
  auto body = c.request("GET", "/metrics").body;
  auto at = body.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + series.size() + 2));
}

/// CPU seconds the process uses over a two-second window. A measurement
/// window, not a wait for anything: the process is expected to be idle.
double cpu_over_window(int pid) {
  auto before = cpu_seconds(pid);
  ::poll(nullptr, 0, 2000);
  return cpu_seconds(pid) - before;
}

struct pg_guard {
  ~pg_guard() {
    pg_control("resume");
    if (pg_control("status >/dev/null") != 0) pg_control("start");
  }
};

} // namespace

TEST_CASE("http: hostile: a NUL, slash or bad byte in a name is refused on every route",
          "[http][hostile]") {
  temp_dir data;
  scratch_database db;
  server_process server{{"--data-dir", data.path(), "--postgres", serve_dsn(db)}};
  auto c = local_client(server.port());
  REQUIRE(eventually([&] { return c.request("GET", "/v1/health").body.find(R"("status":"ok")") != std::string::npos; }));
  REQUIRE(c.request("PUT", "/v1/collections/foo", R"({"dimension":2})").status == 201);
  REQUIRE(c.request("PUT", "/v1/collections/foo/documents/a", R"({"vector":[1,2],"content":"A"})").status == 200);

  // Each of these names would reach `foo` (or another collection) if a
  // backend saw it cut at a NUL or split at a slash.
  std::vector<std::string> names = {"foo%00", "foo%00zzz", "foo%2F..", "foo%2Fbar", "fo%6F%00",
                                    "foo%0A", "foo%20", "%C0%AF", "foo%FF", "%E2%80%AE", "%zz", "foo%"};
  struct call {
    std::string method, suffix, body;
  };
  std::vector<call> calls = {
    {"GET", "", ""},
    {"DELETE", "", ""},
    {"PUT", "", R"({"dimension":2})"},
    {"POST", "/documents", R"({"documents":[{"id":"a","vector":[1,2]}]})"},
    {"POST", "/search", R"({"vector":[1,2],"k":1})"},
    {"GET", "/documents/a", ""},
    {"PUT", "/documents/a", R"({"vector":[3,4]})"},
    {"DELETE", "/documents/a", ""},
  };
  for (auto& name : names)
    for (auto& k : calls) {
      auto r = c.request(k.method, "/v1/collections/" + name + k.suffix, k.body);
      INFO(k.method << " /v1/collections/" << name << k.suffix << " -> " << r.status << " " << r.body);
      CHECK(r.status == 400);
      CHECK(r.header("content-type") == "application/problem+json");
    }
  // Ids by the same rules on every document route, and in a batch.
  for (std::string id : {"a%00", "a%00b", "%00", "a%01", "a%7F", "%C0%80", "a%FFb", "%ED%A0%80"})
    for (auto& k : calls) {
      if (k.suffix != "/documents/a") continue;
      auto r = c.request(k.method, "/v1/collections/foo/documents/" + id, k.body);
      INFO(k.method << " id " << id << " -> " << r.status << " " << r.body);
      CHECK(r.status == 400);
    }
  CHECK(c.request("POST", "/v1/collections/foo/documents", "{\"documents\":[{\"id\":\"a\\u0000b\",\"vector\":[1,2]}]}").status == 400);
  // Admin routes check their backend name too.
  CHECK(c.request("POST", "/v1/admin/backends/postgres%00x/stop").status == 400);

  // Nothing reached `foo`: its document is intact on both backends.
  auto stats = c.request("GET", "/v1/collections/foo");
  CHECK(stats.status == 200);
  CHECK(stats.body.find(R"("count":1)") != std::string::npos);
  for (auto backend : {"postgres", "vectors"}) {
    REQUIRE(c.request("POST", std::string{"/v1/admin/backends/"} + (backend == std::string{"postgres"} ? "vectors" : "postgres") + "/stop").status == 202);
    REQUIRE(eventually([&] { return c.request("GET", "/v1/collections/foo/documents/a").header("x-served-by") == backend; }));
    auto got = c.request("GET", "/v1/collections/foo/documents/a");
    CHECK(got.status == 200);
    CHECK(got.body.find(R"("vector":[1,2],"content":"A")") != std::string::npos);
    REQUIRE(c.request("POST", std::string{"/v1/admin/backends/"} + (backend == std::string{"postgres"} ? "vectors" : "postgres") + "/start").status == 202);
    REQUIRE(eventually([&] { return c.request("GET", "/v1/health").body.find(R"("status":"ok")") != std::string::npos; }));
  }
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: made-up methods are one metric label, 'other'", "[http][hostile]") {
  temp_dir data;
  server_process server{{"--data-dir", data.path(), "--backends", "vectors"}};
  auto c = local_client(server.port());
  auto before = c.request("GET", "/metrics").body.size();
  for (int i = 0; i < 300; ++i) {
    raw_socket s{server.port()};
    auto method = "XMETHOD" + std::to_string(i);
    s.send(method + " /v1/collections HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto reply = s.read_until_closed();
    REQUIRE(reply.closed);
    CHECK(status_of(reply.bytes) == 405);
  }
  // Unknown routes are one label too.
  for (int i = 0; i < 50; ++i) CHECK(c.request("GET", "/nowhere/" + std::to_string(i)).status == 404);
  auto body = c.request("GET", "/metrics").body;
  CHECK(body.find("XMETHOD") == std::string::npos);
  CHECK(body.find("/nowhere") == std::string::npos);
  CHECK(body.find(R"(method="other",route="/v1/collections",status="405")") != std::string::npos);
  // 350 requests added a handful of series, not hundreds.
  CHECK(body.size() < before + 20000);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: a reply to HEAD has no body and the next request on the connection is "
          "answered in turn", "[http][hostile]") {
  temp_dir data;
  server_process server{{"--data-dir", data.path(), "--backends", "vectors"}};
  raw_socket s{server.port()};
  // Pipelined: a body after the HEAD's reply would be read as the GET's.
  s.send("HEAD /v1/collections HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /v1/collections HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto reply = s.read_until_closed();
  REQUIRE(reply.closed);
  auto end = reply.bytes.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  auto head = reply.bytes.substr(0, end);
  INFO(reply.bytes);
  CHECK(status_of(head) == 405);
  // The length the body would have, as for a GET, and no body.
  CHECK(head.find("Content-Length: 0") == std::string::npos);
  CHECK(head.find("Content-Length: ") != std::string::npos);
  CHECK(status_of(reply.bytes.substr(end + 4)) == 200);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: token files: empty refuses to start, CR LF is stripped", "[http][hostile][token]") {
  temp_dir data;
  auto empty = data.path() + "/empty";
  std::ofstream{empty} << "";
  auto blank = data.path() + "/blank";
  std::ofstream{blank} << "\r\n  \n";
  for (auto& file : {empty, blank}) {
    auto r = run_server_expecting_failure({"--data-dir", data.path(), "--backends", "vectors", "--token-file", file});
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(r.output.find("empty") != std::string::npos);
    auto admin = run_server_expecting_failure(
      {"--data-dir", data.path(), "--backends", "vectors", "--admin-token-file", file});
    CHECK(admin.status != 0);
  }
  auto crlf = data.path() + "/crlf";
  std::ofstream{crlf, std::ios::binary} << "s3cret-token\r\n";
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--token-file", crlf}};
  auto c = local_client(server.port());
  CHECK(c.request("GET", "/v1/collections", "", {{"Authorization", bearer("s3cret-token")}}).status == 200);
  CHECK(c.request("GET", "/v1/collections", "", {{"Authorization", bearer("s3cret-tokenx")}}).status == 401);
  CHECK(c.request("GET", "/v1/collections").status == 401);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: a request without a valid token is refused from its headers",
          "[http][hostile][token]") {
  temp_dir data;
  auto token = data.path() + "/token";
  std::ofstream{token} << "s3cret-token\n";
  // Long body deadlines: a server that waited for the body would answer
  // 408 after a minute, not 401.
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--token-file", token,
                         "--body-timeout-ms", "120000"}};
  auto c = local_client(server.port());
  for (auto auth : {std::string{}, std::string{"Authorization: Bearer wrong\r\n"}}) {
    raw_socket s{server.port()};
    // Announces 16 MB and sends none of it.
    s.send("PUT /v1/collections/c/documents/a HTTP/1.1\r\nHost: x\r\n" + auth
           + "Content-Type: application/json\r\nContent-Length: 16000000\r\n\r\n");
    auto reply = s.read_until_closed(std::chrono::seconds(30));
    CHECK(status_of(reply.bytes) == 401);
    CHECK(reply.closed);
  }
  // The same with the token goes on to read the body.
  raw_socket ok{server.port()};
  ok.send("PUT /v1/collections/c HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n"
          "Content-Length: 15\r\nConnection: close\r\n\r\n{\"dimension\":2}");
  CHECK(status_of(ok.read_until_closed().bytes) == 201);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: the admin token guards the admin routes, health shows errors only with a token",
          "[http][hostile][token]") {
  temp_dir data;
  auto token = data.path() + "/token", admin = data.path() + "/admin";
  std::ofstream{token} << "user-token\n";
  std::ofstream{admin} << "admin-token\n";
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--token-file", token,
                         "--admin-token-file", admin}};
  auto c = local_client(server.port());
  auto user = http_headers{{"Authorization", bearer("user-token")}};
  auto root = http_headers{{"Authorization", bearer("admin-token")}};
  CHECK(c.request("POST", "/v1/admin/backends/vectors/stop", "", user).status == 401);
  CHECK(c.request("POST", "/v1/admin/backends/vectors/stop").status == 401);
  CHECK(c.request("GET", "/v1/admin/check", "", user).status == 401);
  CHECK(c.request("POST", "/v1/admin/backends/vectors/stop", "", root).status == 202);
  CHECK(c.request("GET", "/v1/collections", "", user).status != 401);
  CHECK(c.request("GET", "/v1/collections", "", root).status != 401);
  // The stopped backend has an error text; only a token holder sees it.
  REQUIRE(eventually([&] { return c.request("GET", "/v1/health", "", root).body.find(R"("state":"stopped")") != std::string::npos; }));
  auto anonymous = c.request("GET", "/v1/health");
  CHECK(anonymous.body.find("\"state\":\"stopped\"") != std::string::npos);
  CHECK(anonymous.body.find("last_error") == std::string::npos);
  CHECK(c.request("GET", "/v1/health", "", user).body.find("last_error") != std::string::npos);
  CHECK(c.request("POST", "/v1/admin/backends/vectors/start", "", root).status == 202);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: a stalled client is cut off by the header, body and idle deadlines",
          "[http][hostile][stall]") {
  temp_dir data;
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--header-timeout-ms", "300",
                         "--body-timeout-ms", "300", "--idle-timeout-ms", "300"}};
  // A new connection per request: the idle deadline closes kept-alive ones.
  auto fresh = [&] { return local_client(server.port()); };
  REQUIRE(fresh().request("PUT", "/v1/collections/c", R"({"dimension":2})").status == 201);
  // Half a request line.
  raw_socket head{server.port()};
  head.send("GET /v1/heal");
  auto r1 = head.read_until_closed();
  CHECK(r1.closed);
  CHECK(status_of(r1.bytes) == 408);
  // A whole head, a tenth of the body.
  raw_socket body{server.port()};
  body.send("PUT /v1/collections/c/documents/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"vec");
  auto r2 = body.read_until_closed();
  CHECK(r2.closed);
  CHECK(status_of(r2.bytes) == 408);
  // Nothing at all.
  raw_socket idle{server.port()};
  auto r3 = idle.read_until_closed();
  CHECK(r3.closed);
  CHECK(r3.bytes.empty());
  // None of it was stored, and the server serves on.
  CHECK(fresh().request("GET", "/v1/collections/c/documents/a").status == 404);
  auto m = fresh();
  CHECK(scrape(m, R"(lifeline_http_timeouts_total{phase="header"})") >= 1);
  auto m2 = fresh();
  CHECK(scrape(m2, R"(lifeline_http_timeouts_total{phase="body"})") >= 1);
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: 2000 idle connections under a 512-descriptor limit: no spin, the open "
          "client reads and writes on", "[http][hostile][flood]") {
  raise_own_file_limit(4096);
  temp_dir data;
  scratch_database db;
  server_process server{{"--data-dir", data.path(), "--postgres", serve_dsn(db), "--idle-timeout-ms",
                         "120000", "--header-timeout-ms", "120000"},
                        process_options{512}};
  auto c = local_client(server.port());
  REQUIRE(eventually([&] { return c.request("GET", "/v1/health").body.find(R"("status":"ok")") != std::string::npos; }));
  REQUIRE(c.request("PUT", "/v1/collections/f", R"({"dimension":2})").status == 201);
  std::vector<raw_socket> flood;
  flood.reserve(2000);
  for (int i = 0; i < 2000; ++i) flood.emplace_back(server.port(), false);
  // The server keeps what its cap allows and sheds the rest at once.
  REQUIRE(eventually([&] { return scrape(c, R"(lifeline_http_connections_refused_total{reason="connection_cap"})") >= 1000; }));
  CHECK(scrape(c, "lifeline_http_connections") <= 512 - 256);
  CHECK(cpu_over_window(server.pid()) < 0.5);
  // The kept-alive client: every write reaches both backends (PostgreSQL
  // connections and files still open), every read is served.
  for (int i = 0; i < 30; ++i) {
    auto id = "/v1/collections/f/documents/d" + std::to_string(i);
    auto put = c.request("PUT", id, R"({"vector":[1,2]})");
    INFO(put.body);
    CHECK(put.status == 200);
    CHECK(put.body.find(R"("postgres":"applied","vectors":"applied")") != std::string::npos);
    CHECK(c.request("GET", id).status == 200);
  }
  // A newcomer at the cap hears so at once.
  raw_socket late{server.port()};
  auto reply = late.read_until_closed();
  CHECK(status_of(reply.bytes) == 503);
  flood.clear();
  CHECK(server.stop() == 0);
}

TEST_CASE("http: hostile: accept out of descriptors backs off instead of spinning",
          "[http][hostile][flood]") {
  raise_own_file_limit(4096);
  temp_dir data;
  // A cap above the descriptor limit: accept itself runs out (EMFILE).
  server_process server{{"--data-dir", data.path(), "--backends", "vectors", "--max-connections", "5000",
                         "--idle-timeout-ms", "120000", "--header-timeout-ms", "120000"},
                        process_options{256}};
  auto c = local_client(server.port());
  REQUIRE(c.request("GET", "/v1/health").status == 200);
  std::vector<raw_socket> flood;
  flood.reserve(600);
  for (int i = 0; i < 600; ++i) flood.emplace_back(server.port(), false);
  REQUIRE(eventually([&] { return scrape(c, R"(lifeline_http_connections_refused_total{reason="no_descriptors"})") >= 1; }));
  CHECK(cpu_over_window(server.pid()) < 0.5);
  flood.clear();
  // Descriptors free again: it accepts again.
  CHECK(eventually([&] { return local_client(server.port()).request("GET", "/v1/health").status == 200; }));
  CHECK(server.stop() == 0);
}

TEST_CASE("http: overload: past max_in_flight a fast 503 with Retry-After, served at once when the "
          "load drops", "[http][hostile][overload]") {
  pg_guard guard;
  temp_dir data;
  scratch_database db;
  // One PostgreSQL connection, opened before the pause (a new one could not
  // connect to the frozen server), and a circuit that nothing opens while
  // it is frozen: no failure count reaches 1000, and no health probe runs
  // (one every hour; a probe timing out against the frozen server would
  // count as a slow failure, and on a loaded machine enough of them open the
  // circuit). The held reads wait, and succeed once it resumes.
  auto config = data.path() + "/lifeline.toml";
  std::ofstream{config} << "probe_interval_ms = 3600000\n";
  server_process server{{"--config", config, "--data-dir", data.path(), "--postgres", serve_dsn(db), "--backends", "postgres",
                         "--pool-size", "1", "--breaker-failures", "1000", "--max-in-flight", "4",
                         "--request-timeout-ms", "120000", "--attempt-timeout-ms", "120000"}};
  auto c = local_client(server.port());
  REQUIRE(c.request("PUT", "/v1/collections/o", R"({"dimension":2})").status == 201);
  REQUIRE(c.request("PUT", "/v1/collections/o/documents/a", R"({"vector":[1,2]})").status == 200);
  REQUIRE(pg_control("pause") == 0);
  // Four reads hang on the frozen database...
  std::vector<std::future<unsigned>> held;
  for (int i = 0; i < 4; ++i)
    held.push_back(std::async(std::launch::async, [port = server.port()] {
      return local_client(port).request("GET", "/v1/collections/o/documents/a").status;
    }));
  REQUIRE(eventually([&] { return scrape(c, "lifeline_http_in_flight") == 4; }));
  // ...so the fifth is shed from its headers, at once.
  auto shed = c.request("GET", "/v1/collections/o/documents/a");
  CHECK(shed.status == 503);
  CHECK(shed.header("retry-after") == "1");
  CHECK(shed.body.find("Overloaded") != std::string::npos);
  CHECK(scrape(c, "lifeline_http_shed_total") == 1);
  REQUIRE(pg_control("resume") == 0);
  for (auto& f : held) CHECK(f.get() == 200);
  CHECK(c.request("GET", "/v1/collections/o/documents/a").status == 200);
  CHECK(scrape(c, "lifeline_http_in_flight") == 0);
  CHECK(server.stop() == 0);
}
