#include "backends/hnsw/collection.hpp"

#include "io/document_codec.hpp"
#include "core/digest.hpp"
#include "core/validation.hpp"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <mutex>
#include <queue>

namespace lifeline::hnsw {

using io::reader;
using io::writer;

namespace {

std::unique_ptr<hnswlib::SpaceInterface<float>> make_space(const collection_spec& spec) {
  if (spec.metric == metric::l2) return std::make_unique<hnswlib::L2Space>(spec.dimension);
  // hnswlib's inner-product distance is 1 - dot: cosine is that on unit vectors.
  return std::make_unique<hnswlib::InnerProductSpace>(spec.dimension);
}

/// hnswlib's searchKnn with the search breadth as an argument: its own reads
/// the index's ef_, which cannot change per request while others search.
/// Returns the candidates nearest first (up to max(ef, k) of them); the
/// caller takes the first k visible ones (a label being inserted is in the
/// graph before its document is published), looking each up only once.
std::vector<std::pair<float, hnswlib::labeltype>>
search_knn(const hnswlib::HierarchicalNSW<float>& h, const float* query, size_t k, size_t ef) {
  std::vector<std::pair<float, hnswlib::labeltype>> result;
  // Inserts run beside searches (under the collection's shared lock): read
  // the entry point once, and descend from its own level (hnswlib sets the
  // level of an element before it becomes the entry point, and the entry
  // point before maxlevel_, so maxlevel_ may be ahead of the node read).
  auto curr = std::atomic_ref<const hnswlib::tableint>{h.enterpoint_node_}.load(std::memory_order_acquire);
  // hnswlib links a new element from its top level down, level 0 last: an
  // element being inserted can be reached on an upper level while its
  // level-0 list is still empty. Descending onto it started the base-layer
  // search on a node with no neighbours, which answered that one unpublished
  // element: an empty result (found under load, tests/backends/hnsw_search_beside_inserts_test.cpp).
  // Step only onto elements whose level-0 list is in place.
  auto linked = [&](hnswlib::tableint id) {
    auto* count = reinterpret_cast<const unsigned short*>(h.get_linklist0(id));
    return std::atomic_ref<const unsigned short>{*count}.load(std::memory_order_acquire) != 0;
  };
  if (curr == hnswlib::tableint(-1)) return result; // empty, or its first insert under way
  float best = h.fstdistfunc_(query, h.getDataByInternalId(curr), h.dist_func_param_);
  for (int level = h.element_levels_[curr]; level > 0; --level) {
    bool changed = true;
    while (changed) {
      changed = false;
      auto* data = reinterpret_cast<unsigned int*>(h.get_linklist(curr, level));
      int size = h.getListCount(data);
      auto* links = reinterpret_cast<hnswlib::tableint*>(data + 1);
      for (int i = 0; i < size; ++i) {
        float d = h.fstdistfunc_(query, h.getDataByInternalId(links[i]), h.dist_func_param_);
        if (d < best && linked(links[i])) {
          best = d;
          curr = links[i];
          changed = true;
        }
      }
    }
  }
  auto breadth = std::max(ef, k);
  auto top = h.num_deleted_ ? h.searchBaseLayerST<true>(curr, query, breadth)
                            : h.searchBaseLayerST<false>(curr, query, breadth);
  // The queue pops farthest first: fill from the back.
  result.resize(top.size());
  for (size_t i = top.size(); !top.empty(); top.pop())
    result[--i] = {top.top().first, h.getExternalLabel(top.top().second)};
  return result;
}

} // namespace

collection::collection(collection_spec spec, index_params params)
  : spec_(std::move(spec)), params_(params), space_(make_space(spec_)),
    index_(make_index(params_.initial_capacity)) {}

collection::~collection() = default;

std::unique_ptr<collection::index_type> collection::make_index(size_t capacity) const {
  return std::make_unique<index_type>(space_.get(), std::max<size_t>(capacity, 16), params_.M,
                                      params_.ef_construction);
}

void collection::ensure_capacity(size_t more) {
  auto needed = index_->cur_element_count + unadded_.load() + more;
  if (needed <= index_->max_elements_) return;
  // Grow geometrically: the copy is paid rarely.
  index_->resizeIndex(std::max(needed, index_->max_elements_ * 2));
}

void collection::add(const std::vector<float>& v, uint64_t label) {
  if (spec_.metric == metric::cosine) {
    auto unit = v;
    normalize(unit);
    index_->addPoint(unit.data(), label);
  } else {
    index_->addPoint(v.data(), label);
  }
}

std::vector<float> collection::vector_of(uint64_t label) const {
  // hnswlib's getDataByLabel reads label_lookup_ without a lock, and an
  // insert running beside this read may grow it: look the label up under
  // the mutex addPoint changes it under.
  hnswlib::tableint internal;
  {
    std::lock_guard guard{index_->cur_element_count_guard_};
    internal = index_->label_lookup_.at(label);
  }
  auto* p = reinterpret_cast<const float*>(index_->getDataByInternalId(internal));
  return {p, p + spec_.dimension};
}

std::optional<uint64_t> collection::stored_version(const std::string& id) const {
  if (auto it = docs_.find(id); it != docs_.end()) return it->second.version;
  if (auto t = tombstones_.find(id); t != tombstones_.end()) return t->second;
  return std::nullopt;
}

// An upsert in three steps, so that writes of distinct ids insert in
// parallel (hnswlib's addPoint is safe for concurrent inserts of distinct
// labels) while readers go on:
//   1. decide, under the exclusive lock (brief): which documents apply, a
//      new label each, room in the index (a resize needs the exclusive lock);
//   2. insert each vector under the shared lock, one document per hold, so a
//      waiting exclusive step (a delete, a publish, a resize) waits for one
//      insertion only; the new labels are not visible yet (search skips them);
//   3. publish, under the exclusive lock (brief): the documents, the old
//      labels of replaced ids marked deleted, tombstones dropped.
// The store never applies two writes of one id at once (its apply order,
// hnsw_backend.cpp); step 3 re-checks versions all the same.
void collection::upsert(const std::vector<document>& docs, bool force) {
  struct insertion {
    const document* doc;
    uint64_t label;
    uint64_t generation = 0; ///< Of the index it went into (a rebuild swaps it).
  };
  std::vector<insertion> todo;
  {
    std::unique_lock guard{lock_};
    reserved_ -= std::min(reserved_, docs.size());
    // Of several occurrences of an id in the batch, the one applied one
    // after the other would leave: the last of the newest.
    std::unordered_map<std::string_view, size_t> seen;
    for (auto& d : docs) {
      if (auto it = seen.find(d.id); it != seen.end()) {
        if (force || d.version >= todo[it->second].doc->version) todo[it->second].doc = &d;
        continue;
      }
      if (!force)
        if (auto stored = stored_version(d.id); stored && d.version < *stored) continue;
      seen.emplace(d.id, todo.size());
      todo.push_back(insertion{&d, next_label_++});
    }
    ensure_capacity(reserved_ + todo.size());
    unadded_ += todo.size();
  }
  size_t added = 0;
  try {
    for (auto& ins : todo) {
      std::shared_lock guard{lock_};
      add(ins.doc->vector, ins.label);
      ins.generation = generation_;
      --unadded_;
      ++added;
    }
  } catch (...) {
    unadded_ -= todo.size() - added;
    throw;
  }
  std::unique_lock guard{lock_};
  for (auto& ins : todo) {
    auto& d = *ins.doc;
    if (ins.generation != generation_) {
      // A rebuild swapped the index after this insertion: insert again.
      ensure_capacity(1);
      add(d.vector, ins.label);
    }
    if (!force)
      if (auto stored = stored_version(d.id); stored && d.version < *stored) {
        index_->markDelete(ins.label); // a newer write got there first
        continue;
      }
    tombstones_.erase(d.id);
    auto it = docs_.find(d.id);
    if (it != docs_.end()) {
      index_->markDelete(it->second.label);
      ids_.erase(it->second.label);
      it->second = entry{ins.label, d.content, d.metadata, d.version};
    } else {
      it = docs_.emplace(d.id, entry{ins.label, d.content, d.metadata, d.version}).first;
    }
    ids_.emplace(ins.label, it);
    if (rebuilding_) touched_.insert(d.id);
  }
}

void collection::reserve(size_t more) {
  std::unique_lock guard{lock_};
  ensure_capacity(reserved_ + more);
  reserved_ += more;
}

size_t collection::saved_index_bytes() const {
  std::shared_lock guard{lock_};
  auto& h = *index_;
  // saveIndex: 10 size_t fields, maxlevel (int), entry point (u32), mult (double),
  // then level 0 of every element, then a u32 size and the upper levels of each.
  size_t bytes = 10 * sizeof(size_t) + sizeof(int) + sizeof(hnswlib::tableint) + sizeof(double);
  bytes += h.cur_element_count * h.size_data_per_element_;
  for (size_t i = 0; i < h.cur_element_count; ++i)
    bytes += sizeof(unsigned int) + (h.element_levels_[i] > 0 ? h.size_links_per_element_ * h.element_levels_[i] : 0);
  return bytes;
}

bool collection::remove(const std::string& id, uint64_t version, bool force) {
  std::unique_lock guard{lock_};
  if (auto stored = stored_version(id); stored && version < *stored) {
    if (!force) return false;
    version = *stored;
  }
  tombstones_[id] = version;
  auto it = docs_.find(id);
  if (it == docs_.end()) return false;
  index_->markDelete(it->second.label);
  ids_.erase(it->second.label);
  docs_.erase(it);
  if (rebuilding_) touched_.insert(id);
  return true;
}

uint64_t collection::purge_tombstones(uint64_t up_to) {
  std::unique_lock guard{lock_};
  return std::erase_if(tombstones_, [&](const auto& t) { return t.second <= up_to; });
}

std::vector<bool> collection::accepts(const std::vector<document>& docs) const {
  std::shared_lock guard{lock_};
  std::vector<bool> out;
  out.reserve(docs.size());
  for (auto& d : docs) {
    auto stored = stored_version(d.id);
    out.push_back(!stored || d.version >= *stored);
  }
  return out;
}

bool collection::remove_changes(const std::string& id, uint64_t version) const {
  std::shared_lock guard{lock_};
  if (auto it = docs_.find(id); it != docs_.end()) return version >= it->second.version;
  if (auto t = tombstones_.find(id); t != tombstones_.end()) return version > t->second;
  return true;
}

uint64_t collection::tombstones_up_to(uint64_t up_to) const {
  std::shared_lock guard{lock_};
  return uint64_t(std::count_if(tombstones_.begin(), tombstones_.end(),
                                [&](const auto& t) { return t.second <= up_to; }));
}

std::vector<document> collection::scan(const std::string& after, uint32_t limit,
                                       bool with_payload) const {
  std::shared_lock guard{lock_};
  std::vector<document> out;
  out.reserve(std::min<size_t>(limit, docs_.size()));
  for (auto it = docs_.upper_bound(after); it != docs_.end() && out.size() < limit; ++it) {
    auto& e = it->second;
    if (with_payload)
      out.push_back(document{it->first, vector_of(e.label), e.content, e.metadata, e.version});
    else
      out.push_back(document{it->first, {}, {}, {}, e.version});
  }
  return out;
}

template <class F>
void collection::for_each_version(const std::string& after, const std::string& up_to,
                                  uint32_t limit, F&& f) const {
  // Merge the two ordered maps from the lower bound on (an id is never in
  // both): O(log n + limit).
  auto live = docs_.upper_bound(after);
  auto dead = tombstones_.upper_bound(after);
  auto in_range = [&](const std::string& id) { return up_to.empty() || id <= up_to; };
  for (uint32_t fed = 0; fed < limit; ++fed) {
    bool has_live = live != docs_.end() && in_range(live->first);
    bool has_dead = dead != tombstones_.end() && in_range(dead->first);
    if (!has_live && !has_dead) return;
    bool more;
    if (has_live && (!has_dead || live->first < dead->first)) {
      more = f(version_entry{live->first, live->second.version, false});
      ++live;
    } else {
      more = f(version_entry{dead->first, dead->second, true});
      ++dead;
    }
    if (!more) return;
  }
}

std::vector<version_entry> collection::versions(const std::string& after,
                                                const std::string& up_to, uint32_t limit) const {
  std::shared_lock guard{lock_};
  std::vector<version_entry> out;
  for_each_version(after, up_to, limit, [&](version_entry e) {
    out.push_back(std::move(e));
    return true;
  });
  return out;
}

range_digest collection::digest(const std::string& after, const std::string& up_to,
                                uint32_t limit) const {
  std::shared_lock guard{lock_};
  digest_builder b;
  for_each_version(after, up_to, limit, [&](const version_entry& e) {
    b.add(e);
    return true;
  });
  return b.result();
}

expected<document> collection::get(const std::string& id) const {
  std::shared_lock guard{lock_};
  auto it = docs_.find(id);
  if (it == docs_.end())
    return backend_error{errc::not_found, "document '" + id + "' does not exist"};
  auto& e = it->second;
  return document{id, vector_of(e.label), e.content, e.metadata, e.version};
}

std::vector<search_hit> collection::search(const std::vector<float>& query, uint32_t k,
                                           uint32_t ef) const {
  const float* q = query.data();
  std::vector<float> unit; // cosine: the query normalised (l2 uses it as it is)
  if (spec_.metric == metric::cosine) {
    unit = query;
    normalize(unit);
    q = unit.data();
  }
  std::shared_lock guard{lock_};
  auto found = search_knn(*index_, q, k, ef != 0 ? ef : params_.default_ef);
  std::vector<search_hit> hits;
  hits.reserve(std::min<size_t>(k, found.size()));
  // The k nearest visible ones: a label being inserted is in the graph
  // before its document is published (it has no id yet then).
  for (auto& [dist, label] : found) {
    if (hits.size() >= k) break;
    auto found_id = ids_.find(label);
    if (found_id == ids_.end()) continue;
    auto& [id, e] = *found_id->second;
    hits.push_back(search_hit{id, dist, e.content, e.metadata});
  }
  // Equal distances in id order, as the other backends return them.
  std::stable_sort(hits.begin(), hits.end(), [](auto& a, auto& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  });
  return hits;
}

uint64_t collection::count() const {
  std::shared_lock guard{lock_};
  return docs_.size();
}

double collection::deleted_share() const {
  std::shared_lock guard{lock_};
  size_t total = index_->cur_element_count;
  return total == 0 ? 0.0 : double(index_->num_deleted_) / double(total);
}

size_t collection::memory_bytes() const {
  std::shared_lock guard{lock_};
  return index_->max_elements_ * index_->size_data_per_element_
         + index_->cur_element_count * sizeof(void*);
}

void collection::rebuild() {
  std::vector<std::pair<uint64_t, std::vector<float>>> live;
  {
    std::unique_lock guard{lock_};
    if (rebuilding_) return;
    rebuilding_ = true;
    touched_.clear();
    live.reserve(docs_.size());
    for (auto& [id, e] : docs_) live.emplace_back(e.label, index_->getDataByLabel<float>(e.label));
  }
  // Build without any lock: readers and writers carry on with the old index.
  auto fresh = make_index(std::max(live.size() * 2, params_.initial_capacity));
  std::vector<uint64_t> added;
  added.reserve(live.size());
  auto add = [&](uint64_t label, const std::vector<float>& v) {
    if (fresh->label_lookup_.count(label) != 0) return;
    if (fresh->cur_element_count >= fresh->max_elements_) fresh->resizeIndex(fresh->max_elements_ * 2);
    fresh->addPoint(v.data(), label); // already normalised
    added.push_back(label);
  };
  for (auto& [label, v] : live) add(label, v);
  live.clear();
  // Carry over what was written meanwhile. While that is much (a busy
  // writer), copy the vectors under a brief lock and insert them without
  // it, round after round; only the last few are inserted under the lock,
  // so searches wait for those alone.
  auto take_touched = [&](std::vector<std::pair<uint64_t, std::vector<float>>>& out) {
    for (auto& id : touched_) {
      auto it = docs_.find(id);
      if (it == docs_.end() || fresh->label_lookup_.count(it->second.label) != 0) continue;
      out.emplace_back(it->second.label, index_->getDataByLabel<float>(it->second.label));
    }
    touched_.clear();
  };
  for (int round = 0; round < 16; ++round) {
    std::vector<std::pair<uint64_t, std::vector<float>>> batch;
    {
      std::unique_lock guard{lock_};
      if (touched_.size() <= 64) break;
      take_touched(batch);
    }
    for (auto& [label, v] : batch) add(label, v);
  }
  std::unique_lock guard{lock_};
  std::vector<std::pair<uint64_t, std::vector<float>>> rest;
  take_touched(rest);
  for (auto& [label, v] : rest) add(label, v);
  // Keep the room reserved for writes logged but not applied yet.
  // ...and for insertions decided but not made yet (they go into the index
  // current when they run; those made into the old one are made again).
  if (fresh->cur_element_count + reserved_ + unadded_ > fresh->max_elements_)
    fresh->resizeIndex(fresh->cur_element_count + reserved_ + unadded_);
  // Labels in the copy that are no longer live (removed or replaced).
  for (auto label : added)
    if (ids_.count(label) == 0) fresh->markDelete(label);
  index_ = std::move(fresh);
  ++generation_;
  rebuilding_ = false;
  touched_.clear();
}

std::string collection::save(const std::string& index_path) const {
  std::shared_lock guard{lock_};
  index_->saveIndex(index_path);
  writer w;
  w.u64(next_label_);
  w.u64(docs_.size());
  for (auto& [id, e] : docs_) {
    w.str(id);
    w.u64(e.label);
    w.str(e.content);
    w.str(e.metadata);
    w.u64(e.version);
  }
  w.u64(tombstones_.size());
  for (auto& [id, version] : tombstones_) {
    w.str(id);
    w.u64(version);
  }
  return std::move(w.bytes());
}

expected<std::unique_ptr<collection>> collection::load(collection_spec spec, index_params params,
                                                       const std::string& index_path,
                                                       std::string_view meta,
                                                       bool with_tombstones) {
  auto c = std::make_unique<collection>(spec, params);
  reader r{meta};
  auto next = r.u64();
  auto n = r.u64();
  if (!next || !n) return backend_error{errc::corrupt_response, "collection metadata is damaged"};
  c->next_label_ = *next;
  for (uint64_t i = 0; i < *n && r.ok(); ++i) {
    auto id = r.str();
    auto label = r.u64();
    auto content = r.str();
    auto metadata = r.str();
    auto version = r.u64();
    if (!r.ok()) break;
    auto it = c->docs_.emplace_hint(c->docs_.end(), std::move(*id),
                                    entry{*label, std::move(*content), std::move(*metadata), *version});
    c->ids_.emplace(*label, it);
  }
  bool consistent = true;
  if (with_tombstones && r.ok()) {
    auto t = r.u64();
    for (uint64_t i = 0; t && i < *t && r.ok(); ++i) {
      auto id = r.str();
      auto version = r.u64();
      if (!r.ok()) break;
      // A tombstone never shadows a live document.
      consistent = consistent && c->docs_.count(*id) == 0;
      c->tombstones_.emplace_hint(c->tombstones_.end(), std::move(*id), *version);
    }
  }
  if (!r.ok() || !r.done() || !consistent)
    return backend_error{errc::corrupt_response, "collection metadata of '" + spec.name + "' is damaged"};
  try {
    c->index_ = std::make_unique<index_type>(c->space_.get(), index_path, false);
  } catch (const std::exception& e) {
    return backend_error{errc::corrupt_response,
                         "index of '" + spec.name + "' cannot be loaded: " + e.what()};
  }
  // hnswlib 0.6.2 leaves num_deleted_ uninitialised when it loads: count.
  c->index_->num_deleted_ = 0;
  for (size_t i = 0; i < c->index_->cur_element_count; ++i)
    if (c->index_->isMarkedDeleted(hnswlib::tableint(i))) ++c->index_->num_deleted_;
  // Every live document must be in the index, with the right dimension.
  if (c->index_->data_size_ != spec.dimension * sizeof(float))
    return backend_error{errc::corrupt_response, "index of '" + spec.name + "' has another dimension"};
  for (auto& [label, doc] : c->ids_)
    if (c->index_->label_lookup_.count(label) == 0)
      return backend_error{errc::corrupt_response, "index of '" + spec.name + "' lacks '" + doc->first + "'"};
  return c;
}

raw_index::raw_index(metric m, uint32_t dimension, size_t capacity, size_t M,
                     size_t ef_construction)
  : space_(make_space(collection_spec{"raw", dimension, m})),
    index_(std::make_unique<hnswlib::HierarchicalNSW<float>>(space_.get(), capacity, M,
                                                             ef_construction)) {}

raw_index::~raw_index() = default;

void raw_index::add(const float* v, uint64_t label) { index_->addPoint(v, label); }

std::vector<uint64_t> raw_index::search(const float* q, size_t k) const {
  auto r = index_->searchKnn(q, k);
  std::vector<uint64_t> out(r.size());
  for (size_t i = r.size(); i-- > 0; r.pop()) out[i] = r.top().second;
  return out;
}

void raw_index::set_ef(size_t ef) { index_->setEf(ef); }

} // namespace lifeline::hnsw
