// `lifeline serve` over a postgres backend with a real streaming standby
// (issue 15): /v1/health shows the primary, its timeline and the standby with
// its lag and whether it serves; /metrics has the standby series. Run by
// tests/scripts/postgres_standby_tests.sh on a primary and standby of its own.
#include "support/eventually.hpp"
#include "support/required_env.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

std::string env(const char* name) { return required_env(name, "tests/scripts/postgres_standby_tests.sh"); }

} // namespace

TEST_CASE("http: health and metrics show the primary, its timeline and each standby",
          "[.standby][http-health]") {
  auto primary = env("LIFELINE_PG_PORT"), standby = env("LIFELINE_PG_STANDBY_PORT");
  temp_dir data;
  auto config = data.path() + "/lifeline.toml";
  std::ofstream{config} << "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\n"
                        << "conninfo = \"host=127.0.0.1 port=" << primary
                        << " user=lifeline dbname=lifeline\"\n"
                        << "read_replicas = [\"host=127.0.0.1 port=" << standby
                        << " user=lifeline dbname=lifeline\"]\n"
                        << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 1\n";
  server_process server{{"--config", config, "--data-dir", data.path()}};
  auto c = local_client(server.port());
  REQUIRE(c.request("PUT", "/v1/collections/standby_health", R"({"dimension":2})").status / 100 == 2);
  REQUIRE(c.request("PUT", "/v1/collections/standby_health/documents/a",
                    R"({"vector":[1,2],"content":"x"})").status / 100 == 2);
  auto name = "127.0.0.1:" + standby;
  // As of the coordinator's next probe: the standby has replayed the write.
  std::string health;
  CHECK(eventually([&] {
    health = c.request("GET", "/v1/health").body;
    return health.find(R"("standbys":[{"name":")" + name
                       + R"(","reachable":true,"serving":true,"lag_bytes":0,"lag_seconds":0)")
           != std::string::npos;
  }));
  INFO(health);
  CHECK(health.find(R"("database":{"primary":"127.0.0.1:)" + primary
                    + R"(","primary_reachable":true,"timeline":"00000001")")
        != std::string::npos);
  // Metrics as of the coordinator's probes (health reads the backend live).
  auto labels = R"({backend="postgres",standby=")" + name + R"("})";
  std::string metrics;
  // All four in one scrape: a scrape can fall between the first probe's
  // gauges and its counters (each family is collected under its own lock).
  CHECK(eventually([&] {
    metrics = c.request("GET", "/metrics").body;
    return metrics.find("lifeline_standby_lag_bytes" + labels + " 0") != std::string::npos
           && metrics.find("lifeline_standby_serving" + labels + " 1") != std::string::npos
           && metrics.find("lifeline_standby_reads_total" + labels) != std::string::npos
           && metrics.find("lifeline_standby_reads_refused_total" + labels) != std::string::npos;
  }));
  CHECK(server.stop() == 0);
}
