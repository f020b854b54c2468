#include "backends/memory_backend.hpp"

#include "core/validation.hpp"

#include <algorithm>
#include <mutex>

namespace lifeline {

expected<memory_backend::collection*> memory_backend::find(const std::string& name) {
  auto it = collections_.find(name);
  if (it == collections_.end())
    return make_backend_error(errc::not_found, "collection '" + name + "' does not exist");
  return &it->second;
}

expected<bool> memory_backend::create_collection(const collection_spec& spec) {
  if (auto ok = validate_spec(spec); !ok) return ok.error();
  std::unique_lock guard{mutex_};
  auto [it, added] = collections_.try_emplace(spec.name, collection{spec, {}, {}});
  if (!added && !(it->second.spec == spec))
    return make_backend_error(errc::conflict,
                              "collection '" + spec.name + "' exists with another spec");
  return added;
}

expected<void> memory_backend::drop_collection(const std::string& name) {
  std::unique_lock guard{mutex_};
  if (collections_.erase(name) == 0)
    return make_backend_error(errc::not_found, "collection '" + name + "' does not exist");
  return {};
}

expected<std::vector<collection_spec>> memory_backend::list_collections() {
  std::shared_lock guard{mutex_};
  std::vector<collection_spec> out;
  out.reserve(collections_.size());
  for (auto& [name, c] : collections_) out.push_back(c.spec);
  return out;
}

expected<collection_stats> memory_backend::collection_stats(const std::string& name) {
  std::shared_lock guard{mutex_};
  auto c = find(name);
  if (!c) return c.error();
  return lifeline::collection_stats{(*c)->spec, (*c)->docs.size()};
}

expected<void> memory_backend::upsert(const std::string& collection,
                                      const std::vector<document>& docs) {
  std::unique_lock guard{mutex_};
  auto c = find(collection);
  if (!c) return c.error();
  // Validate the whole batch first: a batch is all-or-nothing.
  for (auto& doc : docs)
    if (auto ok = validate_document(doc, (*c)->spec.dimension); !ok) return ok;
  for (auto& doc : docs) {
    if (doc.version < (*c)->version_of(doc.id)) continue; // a newer write is stored
    auto stored = doc;
    if ((*c)->spec.metric == metric::cosine) normalize(stored.vector);
    (*c)->tombstones.erase(doc.id);
    (*c)->docs.insert_or_assign(doc.id, std::move(stored));
  }
  return {};
}

uint64_t memory_backend::collection::version_of(const std::string& id) const {
  if (auto it = docs.find(id); it != docs.end()) return it->second.version;
  if (auto it = tombstones.find(id); it != tombstones.end()) return it->second;
  return 0;
}

expected<document> memory_backend::get(const std::string& collection, const std::string& id) {
  if (auto ok = validate_id(id); !ok) return ok.error();
  std::shared_lock guard{mutex_};
  auto c = find(collection);
  if (!c) return c.error();
  auto it = (*c)->docs.find(id);
  if (it == (*c)->docs.end())
    return make_backend_error(errc::not_found, "document '" + id + "' does not exist");
  return it->second;
}

expected<bool> memory_backend::remove(const std::string& collection, const std::string& id,
                                      uint64_t version) {
  if (auto ok = validate_id(id); !ok) return ok.error();
  if (auto ok = validate_version(version); !ok) return ok.error();
  std::unique_lock guard{mutex_};
  auto c = find(collection);
  if (!c) return c.error();
  if (version < (*c)->version_of(id)) return false;
  bool existed = (*c)->docs.erase(id) > 0;
  (*c)->tombstones.insert_or_assign(id, version);
  return existed;
}

expected<std::vector<document>> memory_backend::scan(const scan_request& request) {
  if (auto ok = validate_scan(request); !ok) return ok.error();
  std::shared_lock guard{mutex_};
  auto c = find(request.collection);
  if (!c) return c.error();
  std::vector<document> page;
  auto& docs = (*c)->docs;
  for (auto it = docs.upper_bound(request.after); it != docs.end() && page.size() < request.limit;
       ++it) {
    if (request.with_payload) page.push_back(it->second);
    else page.push_back(document{it->first, {}, {}, {}, it->second.version});
  }
  return page;
}

expected<std::vector<version_entry>> memory_backend::versions(const range_request& request) {
  if (auto ok = validate_range(request); !ok) return ok.error();
  std::shared_lock guard{mutex_};
  auto c = find(request.collection);
  if (!c) return c.error();
  // Live documents are ordered; tombstones are not, so collect the range's
  // tombstones, sort them and merge (ids are never both live and deleted).
  std::vector<version_entry> dead;
  for (auto& [id, v] : (*c)->tombstones)
    if (id > request.after && (request.up_to.empty() || id <= request.up_to))
      dead.push_back({id, v, true});
  std::sort(dead.begin(), dead.end(), [](auto& a, auto& b) { return a.id < b.id; });
  std::vector<version_entry> out;
  auto& docs = (*c)->docs;
  auto live = docs.upper_bound(request.after);
  auto in_range = [&](const std::string& id) { return request.up_to.empty() || id <= request.up_to; };
  size_t d = 0;
  while (out.size() < request.limit) {
    bool has_live = live != docs.end() && in_range(live->first);
    bool has_dead = d < dead.size();
    if (!has_live && !has_dead) break;
    if (has_live && (!has_dead || live->first < dead[d].id)) {
      out.push_back({live->first, live->second.version, false});
      ++live;
    } else {
      out.push_back(std::move(dead[d++]));
    }
  }
  return out;
}

expected<uint64_t> memory_backend::purge_tombstones(uint64_t up_to) {
  std::unique_lock guard{mutex_};
  uint64_t purged = 0;
  for (auto& [name, c] : collections_)
    purged += std::erase_if(c.tombstones, [up_to](auto& t) { return t.second <= up_to; });
  return purged;
}

expected<std::string> memory_backend::replica_marker() {
  std::shared_lock guard{mutex_};
  return marker_;
}

expected<void> memory_backend::set_replica_marker(const std::string& marker) {
  std::unique_lock guard{mutex_};
  marker_ = marker;
  return {};
}

expected<std::vector<search_hit>> memory_backend::search(const search_query& query) {
  std::shared_lock guard{mutex_};
  auto c = find(query.collection);
  if (!c) return c.error();
  auto& spec = (*c)->spec;
  if (auto ok = validate_query(query, spec.dimension); !ok) return ok.error();
  auto q = query.vector;
  if (spec.metric == metric::cosine) normalize(q);
  std::vector<std::pair<float, const document*>> scored;
  scored.reserve((*c)->docs.size());
  for (auto& [id, doc] : (*c)->docs) scored.emplace_back(distance(spec.metric, q, doc.vector), &doc);
  auto k = std::min<size_t>(query.k, scored.size());
  // Ties break by id so that results are deterministic.
  auto nearer = [](auto& a, auto& b) {
    return a.first < b.first || (a.first == b.first && a.second->id < b.second->id);
  };
  std::partial_sort(scored.begin(), scored.begin() + k, scored.end(), nearer);
  std::vector<search_hit> hits;
  hits.reserve(k);
  for (size_t i = 0; i < k; ++i) {
    auto* d = scored[i].second;
    hits.push_back(search_hit{d->id, scored[i].first, d->content, d->metadata});
  }
  return hits;
}

} // namespace lifeline
