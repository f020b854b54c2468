#include "backends/postgres_schema.hpp"

#include <pqxx/pqxx>

#include <string>
#include <vector>

namespace lifeline::pg {

namespace {

struct migration {
  int version;
  const char* description;
  const char* sql;
};

// Append only: a migration, once released, never changes.
const std::vector<migration>& migrations() {
  static const std::vector<migration> all = {
    {1, "collections and documents", R"sql(
CREATE TABLE lifeline_collections (
  name text PRIMARY KEY,
  dimension integer NOT NULL CHECK (dimension > 0),
  metric text NOT NULL CHECK (metric IN ('l2', 'ip', 'cosine')),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- embedding: float32 little-endian bytes (bytea measured faster than real[]
--   for exact search, see docs/BENCHMARKS.md);
-- metadata: json, not jsonb, so that it comes back byte for byte as written.
CREATE TABLE lifeline_documents (
  collection text NOT NULL REFERENCES lifeline_collections (name) ON DELETE CASCADE,
  id text NOT NULL,
  embedding bytea NOT NULL,
  content text NOT NULL DEFAULT '',
  metadata json,
  version bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, id)
);
)sql"},
  };
  return all;
}

// Any constant unique to Lifeline; shared by every server on the database.
constexpr long long migration_lock = 0x4c69666531696e65; // "Lif1ine"

} // namespace

int latest_schema_version() { return migrations().back().version; }

void migrate(pqxx::connection_base& c) {
  pqxx::work tx{c};
  tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(migration_lock) + ")");
  tx.exec("CREATE TABLE IF NOT EXISTS lifeline_schema_migrations ("
          " version integer PRIMARY KEY,"
          " description text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
  auto current = tx.exec("SELECT coalesce(max(version), 0) FROM lifeline_schema_migrations")[0][0]
                   .as<int>();
  for (auto& m : migrations()) {
    if (m.version <= current) continue;
    tx.exec(m.sql);
    tx.exec_params("INSERT INTO lifeline_schema_migrations (version, description) VALUES ($1, $2)",
                   m.version, std::string{m.description});
  }
  tx.commit();
}

} // namespace lifeline::pg
