// The PostgreSQL schema as numbered migrations, applied on start.
#pragma once

#include <chrono>

namespace pqxx { class connection_base; }

namespace lifeline::pg {

/// Brings the schema up to date: every migration newer than the one recorded
/// in lifeline_schema_migrations is applied, in order, in one transaction,
/// under an advisory lock (two servers starting at once take turns; the
/// second finds nothing to do), with statement_timeout raised to `bound`
/// for that transaction (the session's own is sized for one call). Throws
/// libpqxx exceptions on failure.
void migrate(pqxx::connection_base& c, std::chrono::milliseconds bound);

/// The version the newest migration brings the schema to.
int latest_schema_version();

} // namespace lifeline::pg
