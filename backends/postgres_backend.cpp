#include "backends/postgres_backend.hpp"

#include "backends/validation.hpp"

#include <pqxx/pqxx>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace lifeline {

namespace {

// Created once per server; the advisory lock makes two servers starting at
// once take turns instead of racing on CREATE TABLE.
constexpr const char* schema_sql = R"sql(
SELECT pg_advisory_xact_lock(7406327);
CREATE TABLE IF NOT EXISTS lifeline_collections (
  name text PRIMARY KEY,
  dimension integer NOT NULL CHECK (dimension > 0),
  metric text NOT NULL CHECK (metric IN ('l2', 'ip', 'cosine'))
);
CREATE TABLE IF NOT EXISTS lifeline_documents (
  collection text NOT NULL REFERENCES lifeline_collections (name) ON DELETE CASCADE,
  id text NOT NULL,
  embedding real[] NOT NULL,
  content text NOT NULL DEFAULT '',
  metadata text,
  version bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, id)
);
)sql";

// Exact k-NN computed in the server: one row per document, distance from
// unnest() over the stored and the query vector.
constexpr const char* search_sql = R"sql(
SELECT id, content, coalesce(metadata, ''), d::real FROM (
  SELECT id, content, metadata,
    CASE WHEN $4 = 'l2'
      THEN (SELECT sum((e - q) * (e - q)) FROM unnest(embedding, $2::real[]) AS t(e, q))
      ELSE 1 - (SELECT sum(e * q) FROM unnest(embedding, $2::real[]) AS t(e, q))
    END AS d
  FROM lifeline_documents WHERE collection = $1
) AS scored ORDER BY d, id LIMIT $3
)sql";

std::string to_array_literal(const std::vector<float>& v) {
  std::string out = "{";
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    // %.9g round-trips every float exactly.
    int n = std::snprintf(buf, sizeof buf, "%.9g", double(v[i]));
    if (i > 0) out += ',';
    out.append(buf, size_t(n));
  }
  out += '}';
  return out;
}

std::vector<float> from_array_literal(const std::string& text) {
  std::vector<float> out;
  const char* p = text.c_str();
  if (*p == '{') ++p;
  while (*p && *p != '}') {
    char* end = nullptr;
    out.push_back(std::strtof(p, &end));
    if (end == p) break;
    p = end;
    if (*p == ',') ++p;
  }
  return out;
}

std::string quote_conninfo(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

backend_error from_sql_error(const pqxx::sql_error& e) {
  auto& state = e.sqlstate();
  std::string msg = e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (state == "57014") return {error_kind::timeout, "statement timeout: " + msg};
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0)
    return {error_kind::unavailable, msg};
  if (state.rfind("22", 0) == 0) return {error_kind::invalid_argument, msg};
  return {error_kind::failed, msg};
}

backend_error collection_missing(const std::string& name) {
  return {error_kind::not_found, "collection '" + name + "' does not exist"};
}

/// The spec of a collection inside transaction `tx`, or not_found.
expected<collection_spec> load_spec(pqxx::transaction_base& tx, const std::string& name) {
  auto r = tx.exec_prepared("spec", name);
  if (r.empty()) return collection_missing(name);
  auto m = parse_metric(r[0][1].as<std::string>());
  if (!m) return backend_error{error_kind::corrupt, "unknown metric in lifeline_collections"};
  return collection_spec{name, r[0][0].as<uint32_t>(), *m};
}

} // namespace

struct postgres_backend::connection {
  explicit connection(const std::string& conninfo) : db(conninfo) {}
  pqxx::connection db;
};

void postgres_config::password_from_env(const char* file_var, const char* var) {
  if (const char* path = std::getenv(file_var); path && *path) {
    std::ifstream in{path};
    std::getline(in, password);
  } else if (const char* value = std::getenv(var); value) {
    password = value;
  }
}

postgres_backend::postgres_backend(postgres_config cfg) : cfg_(std::move(cfg)) {
  if (cfg_.pool_size == 0) cfg_.pool_size = 1;
}

postgres_backend::~postgres_backend() = default;

std::unique_ptr<postgres_backend::connection> postgres_backend::connect() {
  std::string conninfo = cfg_.dsn;
  conninfo += " connect_timeout=" + std::to_string(cfg_.connect_timeout.count());
  // Notice a dead peer within seconds, not after the kernel's two hours.
  conninfo += " keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3";
  conninfo += " options=" + quote_conninfo("-c statement_timeout="
                                           + std::to_string(cfg_.statement_timeout.count()));
  if (!cfg_.password.empty()) conninfo += " password=" + quote_conninfo(cfg_.password);
  auto owned = std::make_unique<connection>(conninfo);
  auto* c = &owned->db;
  c->prepare("spec", "SELECT dimension, metric FROM lifeline_collections WHERE name = $1");
  c->prepare("create", "INSERT INTO lifeline_collections (name, dimension, metric) "
                       "VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING");
  c->prepare("drop", "DELETE FROM lifeline_collections WHERE name = $1");
  c->prepare("list", "SELECT name, dimension, metric FROM lifeline_collections ORDER BY name");
  c->prepare("count", "SELECT count(*) FROM lifeline_documents WHERE collection = $1");
  c->prepare("upsert",
             "INSERT INTO lifeline_documents (collection, id, embedding, content, metadata, version)"
             " VALUES ($1, $2, $3::real[], $4, NULLIF($5, ''), $6)"
             " ON CONFLICT (collection, id) DO UPDATE SET embedding = excluded.embedding,"
             " content = excluded.content, metadata = excluded.metadata,"
             " version = excluded.version, updated_at = now()");
  c->prepare("get", "SELECT embedding::text, content, coalesce(metadata, ''), version"
                    " FROM lifeline_documents WHERE collection = $1 AND id = $2");
  c->prepare("remove", "DELETE FROM lifeline_documents WHERE collection = $1 AND id = $2");
  c->prepare("search", search_sql);
  return owned;
}

/// A connection checked out of the pool; returned on destruction unless
/// it broke.
class postgres_backend::lease {
public:
  lease(postgres_backend& owner, std::unique_ptr<connection> c)
    : owner_(owner), conn_(std::move(c)) {}
  ~lease() {
    std::lock_guard guard{owner_.mutex_};
    if (conn_ && conn_->db.is_open()) owner_.idle_.push_back(std::move(conn_));
    else --owner_.open_;
    owner_.available_.notify_one();
  }
  pqxx::connection& operator*() { return conn_->db; }
  void discard() { conn_.reset(); }

private:
  postgres_backend& owner_;
  std::unique_ptr<connection> conn_;
};

template <class T, class F>
expected<T> postgres_backend::with_connection(F&& f) {
  std::unique_ptr<connection> conn;
  bool need_new = false;
  {
    std::unique_lock guard{mutex_};
    available_.wait(guard, [&] { return !idle_.empty() || open_ < cfg_.pool_size; });
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    } else {
      ++open_;
      need_new = true;
    }
  }
  if (need_new) {
    try {
      conn = connect();
    } catch (const std::exception& e) {
      std::lock_guard guard{mutex_};
      --open_;
      available_.notify_one();
      return backend_error{error_kind::unavailable, std::string{"cannot connect: "} + e.what()};
    }
  }
  lease l{*this, std::move(conn)};
  try {
    if (!schema_ready_) {
      pqxx::work tx{*l};
      tx.exec(schema_sql);
      tx.commit();
      schema_ready_ = true;
    }
    return f(*l);
  } catch (const pqxx::broken_connection& e) {
    l.discard();
    return backend_error{error_kind::unavailable, std::string{"connection lost: "} + e.what()};
  } catch (const pqxx::sql_error& e) {
    auto err = from_sql_error(e);
    if (err.kind == error_kind::unavailable) l.discard();
    return err;
  } catch (const pqxx::in_doubt_error& e) {
    l.discard();
    return backend_error{error_kind::failed, std::string{"commit in doubt: "} + e.what()};
  } catch (const pqxx::failure& e) {
    l.discard();
    return backend_error{error_kind::failed, e.what()};
  }
}

expected<void> postgres_backend::create_collection(const collection_spec& spec) {
  if (auto ok = validate_spec(spec); !ok) return ok;
  auto r = with_connection<bool>([&](pqxx::connection& c) -> expected<bool> {
    pqxx::work tx{c};
    tx.exec_prepared("create", spec.name, spec.dimension, std::string{to_string(spec.metric)});
    auto stored = load_spec(tx, spec.name);
    if (!stored) return stored.error();
    tx.commit();
    if (!(*stored == spec))
      return backend_error{error_kind::conflict,
                           "collection '" + spec.name + "' exists with another spec"};
    return true;
  });
  if (!r) return r.error();
  return {};
}

expected<void> postgres_backend::drop_collection(const std::string& name) {
  auto r = with_connection<bool>([&](pqxx::connection& c) -> expected<bool> {
    pqxx::work tx{c};
    auto res = tx.exec_prepared("drop", name);
    tx.commit();
    if (res.affected_rows() == 0) return collection_missing(name);
    return true;
  });
  if (!r) return r.error();
  return {};
}

expected<std::vector<collection_spec>> postgres_backend::list_collections() {
  return with_connection<std::vector<collection_spec>>(
    [&](pqxx::connection& c) -> expected<std::vector<collection_spec>> {
      pqxx::read_transaction tx{c};
      std::vector<collection_spec> out;
      for (auto row : tx.exec_prepared("list")) {
        auto m = parse_metric(row[2].as<std::string>());
        if (!m) return backend_error{error_kind::corrupt, "unknown metric in lifeline_collections"};
        out.push_back({row[0].as<std::string>(), row[1].as<uint32_t>(), *m});
      }
      return out;
    });
}

expected<collection_stats> postgres_backend::collection_stats(const std::string& name) {
  return with_connection<lifeline::collection_stats>(
    [&](pqxx::connection& c) -> expected<lifeline::collection_stats> {
      pqxx::read_transaction tx{c};
      auto spec = load_spec(tx, name);
      if (!spec) return spec.error();
      auto n = tx.exec_prepared("count", name)[0][0].as<uint64_t>();
      return lifeline::collection_stats{*spec, n};
    });
}

expected<void> postgres_backend::upsert(const std::string& collection,
                                        const std::vector<document>& docs) {
  auto r = with_connection<bool>([&](pqxx::connection& c) -> expected<bool> {
    pqxx::work tx{c};
    auto spec = load_spec(tx, collection);
    if (!spec) return spec.error();
    for (auto& d : docs)
      if (auto ok = validate_document(d, spec->dimension); !ok) return ok.error();
    for (auto& d : docs) {
      auto v = d.vector;
      if (spec->metric == metric::cosine) normalize(v);
      tx.exec_prepared("upsert", collection, d.id, to_array_literal(v), d.content, d.metadata,
                       static_cast<int64_t>(d.version));
    }
    tx.commit(); // a batch is one transaction: all or nothing
    return true;
  });
  if (!r) return r.error();
  return {};
}

expected<document> postgres_backend::get(const std::string& collection, const std::string& id) {
  if (auto ok = validate_id(id); !ok) return ok.error();
  return with_connection<document>([&](pqxx::connection& c) -> expected<document> {
    pqxx::read_transaction tx{c};
    auto r = tx.exec_prepared("get", collection, id);
    if (r.empty()) {
      if (auto spec = load_spec(tx, collection); !spec) return spec.error();
      return backend_error{error_kind::not_found, "document '" + id + "' does not exist"};
    }
    return document{id, from_array_literal(r[0][0].as<std::string>()), r[0][1].as<std::string>(),
                    r[0][2].as<std::string>(), r[0][3].as<uint64_t>()};
  });
}

expected<void> postgres_backend::remove(const std::string& collection, const std::string& id) {
  if (auto ok = validate_id(id); !ok) return ok;
  auto r = with_connection<bool>([&](pqxx::connection& c) -> expected<bool> {
    pqxx::work tx{c};
    auto res = tx.exec_prepared("remove", collection, id);
    if (res.affected_rows() == 0) {
      if (auto spec = load_spec(tx, collection); !spec) return spec.error();
      return backend_error{error_kind::not_found, "document '" + id + "' does not exist"};
    }
    tx.commit();
    return true;
  });
  if (!r) return r.error();
  return {};
}

expected<std::vector<search_hit>> postgres_backend::search(const search_query& query) {
  return with_connection<std::vector<search_hit>>(
    [&](pqxx::connection& c) -> expected<std::vector<search_hit>> {
      pqxx::read_transaction tx{c};
      auto spec = load_spec(tx, query.collection);
      if (!spec) return spec.error();
      if (auto ok = validate_query(query, spec->dimension); !ok) return ok.error();
      auto q = query.vector;
      if (spec->metric == metric::cosine) normalize(q);
      std::vector<search_hit> hits;
      for (auto row : tx.exec_prepared("search", query.collection, to_array_literal(q),
                                       query.k, std::string{to_string(spec->metric)}))
        hits.push_back({row[0].as<std::string>(), row[3].as<float>(), row[1].as<std::string>(),
                        row[2].as<std::string>()});
      return hits;
    });
}

expected<void> postgres_backend::probe() {
  auto r = with_connection<bool>([&](pqxx::connection& c) -> expected<bool> {
    pqxx::nontransaction tx{c};
    tx.exec("SELECT 1");
    return true;
  });
  if (!r) return r.error();
  return {};
}

} // namespace lifeline
