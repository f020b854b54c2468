#include "backends/postgres_backend.hpp"

#include "backends/postgres_async.hpp"
#include "backends/postgres_codec.hpp"
#include "backends/postgres_pool.hpp"
#include "backends/postgres_standbys.hpp"
#include "core/log.hpp"
#include "core/validation.hpp"

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <queue>
#include <unordered_map>

namespace lifeline {

namespace {

/// Rows fetched per round trip by the exact search.
constexpr int search_page_rows = 4096;

using snapshot = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

backend_error collection_missing(const std::string& name) {
  return {errc::not_found, "collection '" + name + "' does not exist"};
}

backend_error document_missing(const std::string& id) {
  return {errc::not_found, "document '" + id + "' does not exist"};
}

/// The spec of a collection, read inside `tx`, or not_found.
expected<collection_spec> load_spec(pqxx::transaction_base& tx, const std::string& name) {
  auto r = tx.exec_prepared("spec", name);
  if (r.empty()) return collection_missing(name);
  auto m = parse_metric(r[0][1].as<std::string>());
  if (!m) return backend_error{errc::corrupt_response, "unknown metric in lifeline_collections"};
  return collection_spec{name, r[0][0].as<uint32_t>(), *m};
}

/// Keeps the k nearest seen so far (a max-heap on distance, then id).
class top_k {
public:
  explicit top_k(size_t k) : k_(k) {}
  void offer(float d, std::string_view id) {
    if (heap_.size() < k_) {
      heap_.emplace(d, std::string{id});
    } else if (d < heap_.top().first || (d == heap_.top().first && id < heap_.top().second)) {
      heap_.pop();
      heap_.emplace(d, std::string{id});
    }
  }
  /// Nearest first; ties by id (the same order as the other backends).
  std::vector<std::pair<float, std::string>> take() {
    std::vector<std::pair<float, std::string>> out;
    while (!heap_.empty()) {
      out.push_back(heap_.top());
      heap_.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

private:
  size_t k_;
  std::priority_queue<std::pair<float, std::string>> heap_;
};

} // namespace

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
  if (!cfg_.read_replicas.empty()) {
    standbys_ = std::make_unique<postgres_standbys>(cfg_);
    // A read that falls over to a standby blocks: gets take the workers.
    cfg_.async_reads = false;
  }
  // Every new primary connection says where the primary is and on which
  // timeline (postgres_replication.cpp).
  pool_ = std::make_unique<postgres_pool>(cfg_, true,
                                          [this](pqxx::connection& c) { observe_primary(c); });
  if (cfg_.async_reads) {
    try {
      async_ = std::make_unique<postgres_async>(
        cfg_, cfg_.async_connections > 0 ? cfg_.async_connections : cfg_.pool_size);
    } catch (const std::exception& e) { // no eventfd or thread: reads take the pool
      log().warn("postgres: asynchronous reads are off: {}", e.what());
    }
  }
}

postgres_backend::~postgres_backend() = default;

backend_error postgres_backend::lost_writes_error() const {
  return {errc::backend_unavailable, "not verified since a failover: " + lost_writes()};
}

template <class T, class F>
expected<T> postgres_backend::read(F&& f, bool client) {
  if (client && unverified_.load(std::memory_order_relaxed)) return lost_writes_error();
  if (!standbys_) return pool_->call<T>(f);
  auto unreachable = [](const backend_error& e) {
    return e.kind == errc::backend_unavailable || e.kind == errc::timeout;
  };
  std::string why;
  if (cfg_.prefer_replicas) {
    auto r = standbys_->read<T>(f);
    if (r || !unreachable(r.error())) return r;
    why = r.error().message;
  }
  if (!primary_marked_down()) {
    auto r = pool_->call<T>(f);
    if (r || !unreachable(r.error())) return r;
    // Refused or reset: skip it for a moment. A timeout may be load.
    if (r.error().kind == errc::backend_unavailable) mark_primary_down();
    why = "primary: " + r.error().message + (why.empty() ? "" : "; " + why);
  } else {
    why = "primary: unreachable a moment ago" + (why.empty() ? "" : "; " + why);
  }
  if (cfg_.prefer_replicas) return backend_error{errc::backend_unavailable, why};
  auto r = standbys_->read<T>(f);
  if (r || !unreachable(r.error())) return r;
  return backend_error{errc::backend_unavailable, why + "; " + r.error().message};
}

expected<bool> postgres_backend::create_collection(const collection_spec& spec) {
  if (auto ok = validate_spec(spec); !ok) return ok.error();
  return pool_->call<bool>([&](pqxx::connection& c) -> expected<bool> {
    pqxx::work tx{c};
    // INSERT ... ON CONFLICT DO NOTHING: one row if this statement inserted
    // it, none if the name was taken (a concurrent create of the same name
    // waits for the other's commit and then inserts nothing), so exactly
    // one of two racing creates reports that it created the collection.
    auto res = tx.exec_prepared("create", spec.name, spec.dimension, std::string{to_string(spec.metric)});
    bool created = res.affected_rows() == 1;
    auto stored = load_spec(tx, spec.name);
    if (!stored) return stored.error();
    tx.commit();
    note_commit(c);
    if (!(*stored == spec))
      return backend_error{errc::conflict,
                           "collection '" + spec.name + "' exists with another spec"};
    return created;
  });
}

expected<void> postgres_backend::drop_collection(const std::string& name) {
  return pool_->call<void>([&](pqxx::connection& c) -> expected<void> {
    pqxx::work tx{c};
    auto res = tx.exec_prepared("drop", name);
    if (res.affected_rows() == 0) return collection_missing(name);
    tx.commit();
    note_commit(c);
    return {};
  });
}

expected<std::vector<collection_spec>> postgres_backend::list_collections() {
  return read<std::vector<collection_spec>>(
    [&](pqxx::connection& c) -> expected<std::vector<collection_spec>> {
      pqxx::nontransaction tx{c};
      std::vector<collection_spec> out;
      for (auto row : tx.exec_prepared("list")) {
        auto m = parse_metric(row[2].as<std::string>());
        if (!m) return backend_error{errc::corrupt_response, "unknown metric in lifeline_collections"};
        out.push_back({row[0].as<std::string>(), row[1].as<uint32_t>(), *m});
      }
      return out;
    }, false); // recoveries and repairs read this too
}

expected<collection_stats> postgres_backend::collection_stats(const std::string& name) {
  return read<lifeline::collection_stats>(
    [&](pqxx::connection& c) -> expected<lifeline::collection_stats> {
      pqxx::nontransaction tx{c};
      auto r = tx.exec_prepared("stats", name);
      if (r.empty()) return collection_missing(name);
      auto m = parse_metric(r[0][1].as<std::string>());
      if (!m) return backend_error{errc::corrupt_response, "unknown metric in lifeline_collections"};
      return lifeline::collection_stats{{name, r[0][0].as<uint32_t>(), *m}, r[0][2].as<uint64_t>()};
    });
}

expected<void> postgres_backend::upsert(const std::string& collection,
                                        const std::vector<document>& docs) {
  return pool_->call<void>([&](pqxx::connection& c) -> expected<void> {
    pqxx::work tx{c};
    auto spec = load_spec(tx, collection);
    if (!spec) return spec.error();
    for (auto& d : docs)
      if (auto ok = validate_document(d, spec->dimension); !ok) return ok.error();
    // One statement cannot update a row twice: of the occurrences of an id in
    // the batch the newest wins, the last of equals, as it would with one
    // upsert after another.
    std::unordered_map<std::string_view, size_t> winner;
    for (size_t i = 0; i < docs.size(); ++i) {
      auto [it, added] = winner.try_emplace(docs[i].id, i);
      if (!added && docs[i].version >= docs[it->second].version) it->second = i;
    }
    pg::document_arrays arrays;
    for (size_t i = 0; i < docs.size(); ++i) {
      if (winner[docs[i].id] != i) continue;
      auto v = docs[i].vector;
      if (spec->metric == metric::cosine) normalize(v);
      arrays.add(docs[i], v);
    }
    arrays.close();
    tx.exec_prepared("upsert", collection, arrays.ids, arrays.vectors, arrays.contents,
                     arrays.metadata, arrays.versions);
    tx.commit(); // a batch is one transaction: all or nothing
    note_commit(c);
    return {};
  });
}

expected<document> postgres_backend::get(const std::string& collection, const std::string& id) {
  if (auto ok = validate_id(id); !ok) return ok.error();
  return read<document>([&](pqxx::connection& c) -> expected<document> {
    // One statement is atomic on its own: no BEGIN/COMMIT round trips on the
    // hottest path.
    pqxx::nontransaction tx{c};
    auto r = tx.exec_prepared("get", collection, id);
    if (r.empty()) {
      if (auto spec = load_spec(tx, collection); !spec) return spec.error();
      return document_missing(id);
    }
    auto v = pg::vector_from_bytea_hex(r[0][0].c_str());
    if (!v) return backend_error{errc::corrupt_response, "stored embedding of '" + id + "' is damaged"};
    return document{id, std::move(*v), r[0][1].as<std::string>(), r[0][2].as<std::string>(),
                    r[0][3].as<uint64_t>()};
  });
}

void postgres_backend::get_async(const std::string& collection, const std::string& id,
                                 completion<document> done) {
  if (!async_) return done(get(collection, id));
  if (auto ok = validate_id(id); !ok) return done(ok.error());
  if (unverified_.load(std::memory_order_relaxed)) return done(lost_writes_error());
  async_->get(collection, id, std::move(done));
}

expected<bool> postgres_backend::remove(const std::string& collection, const std::string& id,
                                        uint64_t version) {
  if (auto ok = validate_id(id); !ok) return ok.error();
  if (auto ok = validate_version(version); !ok) return ok.error();
  auto v = static_cast<int64_t>(version);
  return pool_->call<bool>([&](pqxx::connection& c) -> expected<bool> {
    pqxx::work tx{c}; // read committed: each statement sees the latest commits
    // A row that appears between our look and our insert was written by a
    // concurrent writer: look again (it is there now, so this ends).
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto stored = tx.exec_prepared("lock", collection, id);
      if (!stored.empty()) {
        bool was_live = !stored[0][0].as<bool>();
        if (stored[0][1].as<int64_t>() > v) return false; // a newer write is stored
        tx.exec_prepared("bury", collection, id, v);
        tx.commit();
        note_commit(c);
        return was_live;
      }
      if (auto spec = load_spec(tx, collection); !spec) return spec.error();
      if (tx.exec_prepared("tombstone", collection, id, v).affected_rows() == 1) {
        tx.commit();
        note_commit(c);
        return false; // nothing was live, but the tombstone is kept
      }
    }
    // Not reached in practice: after a lost insert race the row exists and
    // is locked on the next look. Not the caller's fault either way.
    return backend_error{errc::backend_error, "document '" + id + "' keeps changing"};
  });
}

expected<std::vector<document>> postgres_backend::scan(const scan_request& request) {
  if (auto ok = validate_scan(request); !ok) return ok.error();
  return read<std::vector<document>>(
    [&](pqxx::connection& c) -> expected<std::vector<document>> {
      pqxx::nontransaction tx{c};
      auto page = tx.exec_prepared(request.with_payload ? "scan_docs" : "scan_ids",
                                   request.collection, request.after, request.limit);
      if (page.empty()) {
        if (auto spec = load_spec(tx, request.collection); !spec) return spec.error();
      }
      std::vector<document> out;
      out.reserve(page.size());
      for (auto row : page) {
        auto& d = out.emplace_back();
        d.id = row[0].as<std::string>();
        d.version = row[1].as<uint64_t>();
        if (!request.with_payload) continue;
        auto v = pg::vector_from_bytea_hex(row[2].c_str());
        if (!v)
          return backend_error{errc::corrupt_response,
                               "stored embedding of '" + d.id + "' is damaged"};
        d.vector = std::move(*v);
        d.content = row[3].as<std::string>();
        d.metadata = row[4].as<std::string>();
      }
      return out;
    }, false); // recoveries and repairs read this too
}

expected<std::vector<version_entry>> postgres_backend::versions(const range_request& request) {
  if (auto ok = validate_range(request); !ok) return ok.error();
  return read<std::vector<version_entry>>(
    [&](pqxx::connection& c) -> expected<std::vector<version_entry>> {
      pqxx::nontransaction tx{c};
      // Byte order (COLLATE "C"), as scan() pages; live rows and tombstones
      // each come from their own partial index (postgres_schema.cpp).
      auto rows = request.up_to.empty()
                    ? tx.exec_prepared("versions", request.collection, request.after,
                                       request.limit)
                    : tx.exec_prepared("versions_to", request.collection, request.after,
                                       request.limit, request.up_to);
      if (rows.empty()) {
        if (auto spec = load_spec(tx, request.collection); !spec) return spec.error();
      }
      std::vector<version_entry> out;
      out.reserve(rows.size());
      for (auto row : rows)
        out.push_back({row[0].as<std::string>(), row[1].as<uint64_t>(), row[2].as<bool>()});
      return out;
    }, false); // recoveries and repairs read this too
}

expected<uint64_t> postgres_backend::purge_tombstones(uint64_t up_to) {
  // Versions are bigint: every stored one is <= 2^63 - 1.
  auto bound = static_cast<int64_t>(std::min<uint64_t>(up_to, INT64_MAX));
  return pool_->call<uint64_t>([&](pqxx::connection& c) -> expected<uint64_t> {
    uint64_t purged = 0;
    {
      pqxx::nontransaction tx{c};
      purged = tx.exec_prepared("purge", bound).affected_rows();
    }
    note_commit(c);
    return purged;
  });
}

// Exact search streams the collection's vectors to the client in keyset
// pages of one snapshot and ranks them here: measured faster than computing
// the distances in SQL (docs/BENCHMARKS.md).
expected<std::vector<search_hit>> postgres_backend::search(const search_query& query) {
  return read<std::vector<search_hit>>(
    [&](pqxx::connection& c) -> expected<std::vector<search_hit>> {
      snapshot tx{c};
      auto spec = load_spec(tx, query.collection);
      if (!spec) return spec.error();
      if (auto ok = validate_query(query, spec->dimension); !ok) return ok.error();
      auto q = query.vector;
      if (spec->metric == metric::cosine) normalize(q);
      top_k best{query.k};
      std::string after; // ids sort after ''
      std::vector<float> v;
      for (;;) {
        auto page = tx.exec_prepared("search_page", query.collection, after, search_page_rows);
        for (auto row : page) {
          auto id = row[0].c_str();
          if (!pg::decode_bytea_hex(row[1].c_str(), v) || v.size() != spec->dimension)
            return backend_error{errc::corrupt_response,
                                 "stored embedding of '" + std::string{id} + "' is damaged"};
          best.offer(distance(spec->metric, q, v), id);
        }
        if (page.size() < size_t(search_page_rows)) break;
        after = page[page.size() - 1][0].as<std::string>();
      }
      auto ranked = best.take();
      std::vector<std::string> ids;
      for (auto& [d, id] : ranked) ids.push_back(id);
      std::unordered_map<std::string, std::pair<std::string, std::string>> payload;
      for (auto row : tx.exec_prepared("payloads", query.collection, pg::text_array(ids)))
        payload[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
      std::vector<search_hit> hits;
      hits.reserve(ranked.size());
      for (auto& [d, id] : ranked) {
        auto& [content, metadata] = payload[id];
        hits.push_back({id, d, content, metadata});
      }
      return hits;
    });
}


} // namespace lifeline
