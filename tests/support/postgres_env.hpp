// The private PostgreSQL that the test command starts (scripts/pg.sh).
#pragma once

#include "backends/postgres_backend.hpp"

#include <string>

namespace lifeline::testing {

/// Connection settings from LIFELINE_PG_DSN and the password file; fails the
/// test (never skips it) when the test command did not start PostgreSQL.
postgres_config postgres_from_env(uint32_t pool_size = 2);

/// Runs `scripts/pg.sh <action>` (kill, start, pause, resume) on that
/// cluster; returns the exit status.
int pg_control(const std::string& action);

/// A collection name no other test uses.
std::string unique_collection(const std::string& prefix);

} // namespace lifeline::testing
