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
    {2, "tombstones, byte-order scans and the replica marker", R"sql(
-- A deleted document stays as a tombstone (empty embedding and content, no
-- metadata) that keeps its version, so that an older write cannot bring it back.
ALTER TABLE lifeline_documents ADD COLUMN deleted boolean NOT NULL DEFAULT false;
-- Scans and the exact search page through live documents in byte order.
CREATE INDEX lifeline_documents_live_by_id
  ON lifeline_documents (collection, id COLLATE "C") WHERE NOT deleted;
-- purge_tombstones finds tombstones without reading live documents.
CREATE INDEX lifeline_documents_tombstones ON lifeline_documents (version) WHERE deleted;
-- Small facts kept with the data, e.g. the replica marker.
CREATE TABLE lifeline_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
)sql"},
    {3, "tombstones in byte order, for repair", R"sql(
-- versions() lists live documents and tombstones of an id range in byte
-- order: the live ones from lifeline_documents_live_by_id, the tombstones
-- from this one (a partial index: writes of live documents never touch it).
CREATE INDEX lifeline_documents_dead_by_id
  ON lifeline_documents (collection, id COLLATE "C") WHERE deleted;
)sql"},
  };
  return all;
}

// Any constant unique to Lifeline; shared by every server on the database.
constexpr long long migration_lock = 0x4c69666531696e65; // "Lif1ine"

} // namespace

int latest_schema_version() { return migrations().back().version; }

void migrate(pqxx::connection_base& c, std::chrono::milliseconds bound) {
  pqxx::work tx{c};
  tx.exec("SET LOCAL statement_timeout = " + std::to_string(bound.count()));
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

// The statements the backend prepares on every connection, by name.
void prepare_statements(pqxx::connection_base& c) {
  c.prepare("spec", "SELECT dimension, metric FROM lifeline_collections WHERE name = $1");
  c.prepare("create", "INSERT INTO lifeline_collections (name, dimension, metric)"
                      " VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING");
  c.prepare("drop", "DELETE FROM lifeline_collections WHERE name = $1");
  c.prepare("list", "SELECT name, dimension, metric FROM lifeline_collections ORDER BY name");
  c.prepare("stats", "SELECT c.dimension, c.metric, (SELECT count(*) FROM lifeline_documents d"
                     " WHERE d.collection = c.name AND NOT d.deleted)"
                     " FROM lifeline_collections c WHERE c.name = $1");
  // A whole batch in one statement: parallel arrays, one element per document.
  // Last writer wins: a stored row (live or tombstone) with a newer version
  // is left alone; an older one, or a tombstone, is overwritten.
  c.prepare("upsert",
            "INSERT INTO lifeline_documents (collection, id, embedding, content, metadata, version)"
            " SELECT $1, u.id, u.embedding, u.content, u.metadata::json, u.version"
            " FROM unnest($2::text[], $3::bytea[], $4::text[], $5::text[], $6::bigint[])"
            "   AS u(id, embedding, content, metadata, version)"
            " ON CONFLICT (collection, id) DO UPDATE SET embedding = excluded.embedding,"
            " content = excluded.content, metadata = excluded.metadata,"
            " version = excluded.version, deleted = false, updated_at = now()"
            " WHERE lifeline_documents.version <= excluded.version");
  c.prepare("get", "SELECT embedding, content, coalesce(metadata::text, ''), version"
                   " FROM lifeline_documents WHERE collection = $1 AND id = $2 AND NOT deleted");
  // remove: lock the stored row (live or tombstone) to learn what it was...
  c.prepare("lock", "SELECT deleted, version FROM lifeline_documents"
                    " WHERE collection = $1 AND id = $2 FOR UPDATE");
  // ...and turn it into a tombstone, or write one where there was no row.
  c.prepare("bury", "UPDATE lifeline_documents SET embedding = ''::bytea, content = '',"
                    " metadata = NULL, version = $3, deleted = true, updated_at = now()"
                    " WHERE collection = $1 AND id = $2");
  c.prepare("tombstone",
            "INSERT INTO lifeline_documents (collection, id, embedding, content, version, deleted)"
            " VALUES ($1, $2, ''::bytea, '', $3, true) ON CONFLICT (collection, id) DO NOTHING");
  c.prepare("purge", "DELETE FROM lifeline_documents WHERE deleted AND version <= $1");
  // Keyset pages over live documents in byte order (COLLATE "C" on both the
  // bound and the order, matching the index lifeline_documents_live_by_id).
  const std::string live_after = " FROM lifeline_documents WHERE collection = $1 AND NOT deleted"
                                 " AND id COLLATE \"C\" > $2 ORDER BY id COLLATE \"C\" LIMIT $3";
  c.prepare("search_page", "SELECT id, embedding" + live_after);
  c.prepare("scan_ids", "SELECT id, version" + live_after);
  c.prepare("scan_docs",
            "SELECT id, version, embedding, content, coalesce(metadata::text, '')" + live_after);
  // Repair: every stored id of (after, up_to], live or tombstone, in byte
  // order; each half from its partial index, merged, at most $3.
  auto versions_of = [](const std::string& upper) {
    auto half = [&](const char* which) {
      return std::string{"(SELECT id, version, deleted FROM lifeline_documents WHERE collection = $1"
                         " AND "} + which + " AND id COLLATE \"C\" > $2" + upper
             + " ORDER BY id COLLATE \"C\" LIMIT $3)";
    };
    return "SELECT id, version, deleted FROM (" + half("NOT deleted") + " UNION ALL "
           + half("deleted") + ") v ORDER BY id COLLATE \"C\" LIMIT $3";
  };
  c.prepare("versions", versions_of(""));
  c.prepare("versions_to", versions_of(" AND id COLLATE \"C\" <= $4"));
  c.prepare("payloads", "SELECT id, content, coalesce(metadata::text, '') FROM lifeline_documents"
                        " WHERE collection = $1 AND id = ANY($2::text[]) AND NOT deleted");
  c.prepare("get_marker", "SELECT value FROM lifeline_meta WHERE key = 'replica_marker'");
  c.prepare("set_marker", "INSERT INTO lifeline_meta (key, value) VALUES ('replica_marker', $1)"
                          " ON CONFLICT (key) DO UPDATE SET value = excluded.value");
}

} // namespace lifeline::pg
