#include "backends/postgres_async_batch.hpp"

#include "backends/postgres_codec.hpp"
#include "backends/postgres_pool.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <endian.h>

#include <cstring>
#include <string_view>

namespace lifeline::pg_async {

// A join on unnest, not `id = ANY($2)`: the generic plan of ANY is a bitmap
// scan; this one probes the primary key once per id.
const char* const statement_sql =
  "SELECT d.id, d.embedding, d.content, coalesce(d.metadata::text, ''), d.version"
  " FROM unnest($2::text[]) AS x(id)"
  " JOIN lifeline_documents d ON d.collection = $1 AND d.id = x.id WHERE NOT d.deleted"
  " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL FROM lifeline_collections WHERE name = $1";

namespace {

std::string_view field(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), size_t(PQgetlength(r, row, col))};
}

/// One row of the result, decoded as get() decodes it (postgres_backend.cpp).
expected<document> decode_row(const PGresult* r, int row, const std::string& id) {
  auto v = pg::vector_from_bytea_binary(field(r, row, 1));
  if (!v) return backend_error{errc::corrupt_response, "stored embedding of '" + id + "' is damaged"};
  auto version = field(r, row, 4);
  if (version.size() != sizeof(uint64_t))
    return backend_error{errc::corrupt_response, "stored version of '" + id + "' is damaged"};
  uint64_t big_endian;
  std::memcpy(&big_endian, version.data(), sizeof big_endian);
  auto value = static_cast<int64_t>(be64toh(big_endian));
  if (value < 0) // get() cannot read a negative version as unsigned either
    return backend_error{errc::corrupt_response, "stored version of '" + id + "' is negative"};
  return document{id, std::move(*v), std::string{field(r, row, 2)}, std::string{field(r, row, 3)},
                  uint64_t(value)};
}

} // namespace

std::string trimmed(std::string msg) {
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

std::string sqlstate(const PGresult* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

void deliver(pending_get& g, expected<document> answer) {
  try {
    g.done(std::move(answer));
  } catch (const std::exception& e) {
    log().error("postgres: a get's completion threw: {}", e.what());
  } catch (...) {
    log().error("postgres: a get's completion threw");
  }
}

bool answer_batch(std::vector<pending_get>& waiters, const std::string& collection,
                  const PGresult* r, const std::string& connection_error) {
  auto fail_all = [&](const backend_error& err) {
    for (auto& g : waiters) deliver(g, err);
  };
  if (!r) {
    fail_all({errc::backend_unavailable, "connection lost: " + connection_error});
    return true;
  }
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    auto state = sqlstate(r);
    // No schema yet: no collection exists (get() would migrate, then answer this).
    if (state == "42P01") {
      fail_all({errc::not_found, "collection '" + collection + "' does not exist"});
      return false;
    }
    auto err = postgres_error(state, trimmed(PQresultErrorMessage(r)));
    if (state.empty() && err.kind == errc::backend_error)
      err = {errc::backend_unavailable, "connection lost: " + trimmed(PQresultErrorMessage(r))};
    fail_all(err);
    return err.kind == errc::backend_unavailable;
  }
  // At most max_batch distinct ids: a linear look-up is cheaper than a map.
  bool collection_exists = false;
  int rows = PQntuples(r);
  auto row_of = [&](const std::string& id) {
    for (int i = 0; i < rows; ++i)
      if (!PQgetisnull(r, i, 0) && field(r, i, 0) == id) return i;
    return -1;
  };
  for (int i = 0; i < rows && !collection_exists; ++i) collection_exists = PQgetisnull(r, i, 0);
  for (auto& g : waiters) {
    if (int row = row_of(g.id); row >= 0)
      deliver(g, decode_row(r, row, g.id));
    else if (collection_exists)
      deliver(g, backend_error{errc::not_found, "document '" + g.id + "' does not exist"});
    else
      deliver(g, backend_error{errc::not_found, "collection '" + collection + "' does not exist"});
  }
  return false;
}

} // namespace lifeline::pg_async
