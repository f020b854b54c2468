// See vector_json_cache.hpp: why the cache can never serve a stale vector.
#include "api/vector_json_cache.hpp"

#include "api/json_writer.hpp"

#include <cstring>
#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>

namespace lifeline::api {

std::string encode_vector(const std::vector<float>& v) {
  json_writer w;
  w.floats(v);
  return w.take();
}

namespace {

/// "collection\0id" (a collection name holds no NUL; if an id did, two keys
/// could meet, which costs a miss, never a wrong reply: hits compare floats).
void make_key(std::string& out, std::string_view collection, std::string_view id) {
  out.clear();
  out.append(collection);
  out.push_back('\0');
  out.append(id);
}

bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

} // namespace

struct vector_json_cache::shard {
  struct entry {
    std::string key;
    uint64_t version = 0;
    std::vector<float> floats;
    std::string json;
    size_t charge = 0;
  };
  std::mutex lock;
  std::list<entry> lru; ///< Most recently used first.
  std::unordered_map<std::string_view, std::list<entry>::iterator> index; ///< Views of entry::key.
  size_t bytes = 0;

  void erase(std::list<entry>::iterator it) {
    bytes -= it->charge;
    index.erase(it->key);
    lru.erase(it);
  }
  void evict_to(size_t bound) {
    while (bytes > bound && !lru.empty()) erase(std::prev(lru.end()));
  }
};

vector_json_cache::vector_json_cache(size_t max_bytes, size_t shards) : max_bytes_(max_bytes) {
  shards_.resize(std::max<size_t>(shards, 1));
  for (auto& s : shards_) s = std::make_unique<shard>();
}

vector_json_cache::~vector_json_cache() = default;

size_t vector_json_cache::shard_bound() const { return max_bytes() / shards_.size(); }

vector_json_cache::shard& vector_json_cache::shard_for(std::string_view collection, std::string_view id) {
  auto h = std::hash<std::string_view>{}(id) * 31 + std::hash<std::string_view>{}(collection);
  return *shards_[h % shards_.size()];
}

void vector_json_cache::write(json_writer& w, std::string_view collection, const document& doc) {
  auto bound = shard_bound();
  if (bound == 0) {
    w.floats(doc.vector);
    return;
  }
  thread_local std::string key;
  make_key(key, collection, doc.id);
  auto& s = shard_for(collection, doc.id);
  {
    std::lock_guard g{s.lock};
    if (auto it = s.index.find(key); it != s.index.end()) {
      auto e = it->second;
      if (e->version == doc.version && same_floats(e->floats, doc.vector)) {
        s.lru.splice(s.lru.begin(), s.lru, e);
        w.raw(e->json);
        hits_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  // Encoded outside the lock; the entry goes in (or replaces the older
  // one) after.
  shard::entry fresh;
  fresh.json = encode_vector(doc.vector);
  w.raw(fresh.json);
  fresh.charge = key.size() + doc.vector.size() * sizeof(float) + fresh.json.size() + entry_overhead;
  std::lock_guard g{s.lock};
  if (auto it = s.index.find(key); it != s.index.end()) s.erase(it->second);
  if (fresh.charge > bound) return; // would never fit
  fresh.key = key;
  fresh.version = doc.version;
  fresh.floats = doc.vector;
  s.lru.push_front(std::move(fresh));
  auto e = s.lru.begin();
  s.index.emplace(e->key, e);
  s.bytes += e->charge;
  s.evict_to(bound);
}

void vector_json_cache::set_max_bytes(size_t max_bytes) {
  max_bytes_.store(max_bytes, std::memory_order_relaxed);
  auto bound = shard_bound();
  for (auto& s : shards_) {
    std::lock_guard g{s->lock};
    s->evict_to(bound);
  }
}

size_t vector_json_cache::bytes() const {
  size_t total = 0;
  for (auto& s : shards_) {
    std::lock_guard g{s->lock};
    total += s->bytes;
  }
  return total;
}

size_t vector_json_cache::entries() const {
  size_t total = 0;
  for (auto& s : shards_) {
    std::lock_guard g{s->lock};
    total += s->lru.size();
  }
  return total;
}

vector_json_cache& shared_vector_cache() {
  static vector_json_cache cache{size_t{64} << 20};
  return cache;
}

void write_vector(json_writer& w, const std::string& collection, const document& doc) {
  shared_vector_cache().write(w, collection, doc);
}

} // namespace lifeline::api
