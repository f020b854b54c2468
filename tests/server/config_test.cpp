#include "server/config.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>

using namespace lifeline;
using namespace lifeline::server;
using namespace lifeline::testing;

namespace {

expected<void, config_error> load(const std::string& toml, options& opts) {
  temp_dir dir;
  auto path = dir.path() + "/lifeline.toml";
  std::ofstream{path} << toml;
  return load_file(path, opts);
}

std::string error_of(const std::string& toml) {
  options opts;
  auto r = load(toml, opts);
  REQUIRE_FALSE(r);
  return r.error().message;
}

} // namespace

TEST_CASE("config: a file with backends in priority order", "[config]") {
  options opts;
  REQUIRE(load(R"(
listen = "0.0.0.0:9000"
request_timeout_ms = 2500
[[backends]]
name = "replica"
kind = "postgres"
priority = 2
conninfo = "host=replica"
[[backends]]
name = "primary"
kind = "postgres"
priority = 1
conninfo = "host=primary"
pool_size = 8
)", opts));
  CHECK(opts.host == "0.0.0.0");
  CHECK(opts.port == 9000);
  CHECK(opts.request_timeout == std::chrono::milliseconds(2500));
  REQUIRE(opts.backends.size() == 2);
  CHECK(opts.backends[0].name == "primary");
  CHECK(opts.backends[0].settings.at("pool_size") == "8");
}

TEST_CASE("config: unknown keys and bad values name the key", "[config]") {
  CHECK(error_of("listn = \"x\"\n").find("unknown key 'listn'") != std::string::npos);
  CHECK(error_of("request_timeout_ms = -5\n").find("request_timeout_ms") != std::string::npos);
  CHECK(error_of("request_timeout_ms = \"soon\"\n").find("request_timeout_ms") != std::string::npos);
  CHECK(error_of("listen = \"nohost\"\n").find("listen") != std::string::npos);
  CHECK(error_of("[[backends]]\nname = \"x\"\nkind = \"oracle\"\n").find("unknown kind 'oracle'")
        != std::string::npos);
  CHECK(error_of("this is not toml").find("lifeline.toml") != std::string::npos);
}

TEST_CASE("config: each kind checks its own settings", "[config]") {
  auto pg = find_backend_kind("postgres");
  REQUIRE(pg);
  auto unknown = pg->configure("db", {{"conninfo", "host=x"}, {"pool_sise", "4"}}, "/tmp");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("unknown setting 'pool_sise'") != std::string::npos);
  auto bad = pg->configure("db", {{"conninfo", "host=x"}, {"pool_size", "zero"}}, "/tmp");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("pool_size") != std::string::npos);
  auto secret = pg->configure("db", {{"conninfo", "host=x password=hunter2"}}, "/tmp");
  REQUIRE_FALSE(secret);
  CHECK(secret.error().message.find("must not hold the password") != std::string::npos);
  auto hnsw = find_backend_kind("hnsw");
  REQUIRE(hnsw);
  auto sync = hnsw->configure("v", {{"sync", "sometimes"}}, "/tmp");
  REQUIRE_FALSE(sync);
  CHECK(sync.error().message.find("sync") != std::string::npos);
}

TEST_CASE("config: the stop's drain and grace", "[config]") {
  options opts;
  CHECK(opts.shutdown_drain == std::chrono::milliseconds(30000));
  CHECK(opts.shutdown_grace == std::chrono::milliseconds(5000));
  REQUIRE(load("shutdown_drain_ms = 1500\nshutdown_grace_ms = 250\n", opts));
  CHECK(opts.shutdown_drain == std::chrono::milliseconds(1500));
  CHECK(opts.shutdown_grace == std::chrono::milliseconds(250));
  CHECK(error_of("shutdown_drain_ms = 0\n").find("shutdown_drain_ms") != std::string::npos);
  CHECK(error_of("shutdown_grace_ms = \"later\"\n").find("shutdown_grace_ms") != std::string::npos);
}

TEST_CASE("config: repair interval and rate (0 turns background repair off)", "[config][repair]") {
  options defaults;
  CHECK(defaults.repair_interval == std::chrono::minutes(10));
  CHECK(defaults.repair_rate == 20);
  options opts;
  REQUIRE(load("repair_interval_ms = 0\nrepair_rate = 5\n", opts));
  CHECK(opts.repair_interval == std::chrono::milliseconds(0));
  CHECK(opts.repair_rate == 5);
  CHECK(error_of("repair_interval_ms = -1\n").find("repair_interval_ms") != std::string::npos);
  CHECK(error_of("repair_rate = \"fast\"\n").find("repair_rate") != std::string::npos);
}

TEST_CASE("config: handoff limits, a top-level default and a per-backend override",
          "[config]") {
  options opts;
  REQUIRE(load(R"(
handoff_limit_mb = 512
handoff_segment_mb = 8
disk_free_warn_mb = 2048
handoff_load_timeout_ms = 90000
[[backends]]
name = "a"
kind = "memory"
handoff_limit_mb = 64
[[backends]]
name = "b"
kind = "memory"
)",
               opts));
  CHECK(opts.handoff_limit_mb == 512);
  CHECK(opts.handoff_segment_mb == 8);
  CHECK(opts.disk_free_warn_mb == 2048);
  CHECK(opts.handoff_load_timeout == std::chrono::milliseconds(90000));
  REQUIRE(opts.backends.size() == 2);
  CHECK(opts.backends[0].handoff_limit_mb == std::optional<uint64_t>{64});
  CHECK_FALSE(opts.backends[1].handoff_limit_mb);
  CHECK(opts.backends[0].settings.count("handoff_limit_mb") == 0); // not the kind's setting
  CHECK(error_of("handoff_limit_mb = -1").find("handoff_limit_mb") != std::string::npos);
  CHECK(error_of("[[backends]]\nname = \"a\"\nkind = \"memory\"\nhandoff_limit_mb = \"x\"")
          .find("backends.handoff_limit_mb") != std::string::npos);
}

TEST_CASE("config: hedging keys", "[config]") {
  options defaults;
  CHECK(defaults.hedging);
  CHECK(defaults.hedge_budget_percent == 5);
  CHECK(defaults.outlier_factor == 5);
  options opts;
  REQUIRE(load("hedging = false\nhedge_budget_percent = 2\noutlier_factor = 0\n", opts));
  CHECK_FALSE(opts.hedging);
  CHECK(opts.hedge_budget_percent == 2);
  CHECK(opts.outlier_factor == 0);
  CHECK(error_of("hedging = 1\n").find("hedging must be true or false") != std::string::npos);
  CHECK(error_of("hedge_budget_percent = 101\n").find("hedge_budget_percent must be") != std::string::npos);
}

TEST_CASE("config: a postgres backend's hot standbys in read_replicas and replica_reads",
          "[config]") {
  options opts;
  REQUIRE(load(R"(
[[backends]]
name = "postgres"
kind = "postgres"
conninfo = "host=db1,db2 port=5432,5432 target_session_attrs=read-write"
read_replicas = ["host=db1 port=5432", "host=db2 port=5432"]
replica_reads = "prefer"
)", opts));
  REQUIRE(opts.backends.size() == 1);
  auto& settings = opts.backends[0].settings;
  CHECK(settings.at("read_replicas") == "host=db1 port=5432\nhost=db2 port=5432");
  auto pg = find_backend_kind("postgres");
  REQUIRE(pg);
  CHECK(pg->configure("postgres", settings, "/tmp"));

  auto error = [&](backend_settings s) {
    s.emplace("conninfo", "host=db1");
    auto r = pg->configure("postgres", s, "/tmp");
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK_THAT(error({{"read_replicas", "?"}}), Catch::Contains("read_replicas must be a list"));
  CHECK_THAT(error({{"read_replicas", "host=db2 password=x"}}),
             Catch::Contains("must not hold passwords"));
  CHECK_THAT(error({{"read_replicas", "host=db2"}, {"replica_reads", "sometimes"}}),
             Catch::Contains("replica_reads must be"));
  CHECK_THAT(error({{"replica_reads", "prefer"}}), Catch::Contains("replica_reads needs read_replicas"));
  // A list of anything but strings cannot be told apart: refused by name.
  options numbers;
  REQUIRE(load("[[backends]]\nname = \"p\"\nkind = \"postgres\"\nconninfo = \"host=x\"\n"
                "read_replicas = [1, 2]\n",
                numbers));
  CHECK_THAT(error({{"read_replicas", numbers.backends[0].settings.at("read_replicas")}}),
             Catch::Contains("read_replicas must be a list"));
}
