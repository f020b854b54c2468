#include "support/postgres_env.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <unistd.h>

namespace lifeline::testing {

postgres_config postgres_from_env(uint32_t pool_size) {
  const char* dsn = std::getenv("LIFELINE_PG_DSN");
  INFO("LIFELINE_PG_DSN is not set: run the tests through scripts/test.sh, "
       "which starts a private PostgreSQL");
  REQUIRE(dsn != nullptr);
  postgres_config cfg;
  cfg.dsn = dsn;
  cfg.password_from_env();
  cfg.pool_size = pool_size;
  cfg.connect_timeout = std::chrono::seconds(2);
  return cfg;
}

int pg_control(const std::string& action) {
  const char* ctl = std::getenv("LIFELINE_PG_CTL");
  REQUIRE(ctl != nullptr);
  return std::system((std::string{ctl} + " " + action).c_str());
}

std::string unique_collection(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(++n);
}

} // namespace lifeline::testing
