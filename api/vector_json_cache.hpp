// The JSON text of stored vectors, kept so that a GET does not encode the
// same floats again on every read (the shortest round-trip text of a 128-d
// vector is ~1.2 kB and 128 std::to_chars calls).
//
// Never stale by construction: an entry holds the floats it was encoded
// from, and a hit needs the same (collection, id, version) AND bit-identical
// floats; otherwise the vector is encoded afresh and replaces the entry.
// So whatever a backend returns (a new version, a cosine-normalised copy, an
// unversioned document, two backends that disagree) the reply is exactly
// what encoding it would give. Bounded in bytes, sharded so that the asio
// and actor threads that build replies rarely meet on one lock, and LRU
// within a shard.
#pragma once

#include "core/types.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::api {

class json_writer;

/// The JSON array text of `v`: shortest round-trip floats, as
/// json_writer::floats() writes them.
std::string encode_vector(const std::vector<float>& v);

class vector_json_cache {
public:
  /// `max_bytes` bounds what the entries hold (keys, floats, text and a
  /// fixed overhead per entry); 0 turns the cache off.
  explicit vector_json_cache(size_t max_bytes, size_t shards = 16);
  ~vector_json_cache();
  vector_json_cache(const vector_json_cache&) = delete;
  vector_json_cache& operator=(const vector_json_cache&) = delete;

  /// Writes doc.vector as a JSON array value into `w` (after a key or in
  /// an array), from the cache when it holds exactly these floats.
  void write(json_writer& w, std::string_view collection, const document& doc);

  /// Changes the bound (evicting down to it at once); 0 turns it off.
  void set_max_bytes(size_t max_bytes);
  size_t max_bytes() const { return max_bytes_.load(std::memory_order_relaxed); }
  /// What the entries are charged now (always <= max_bytes()).
  size_t bytes() const;
  size_t entries() const;
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }

  /// Bytes charged for one entry besides its key, floats and text.
  static constexpr size_t entry_overhead = 128;

private:
  struct shard;
  shard& shard_for(std::string_view collection, std::string_view id);
  size_t shard_bound() const;

  std::atomic<size_t> max_bytes_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

/// The process's cache, used by the GET reply (64 MiB by default; the API
/// sets it from api_config::vector_cache_bytes).
vector_json_cache& shared_vector_cache();

/// The one function the get reply uses: writes doc.vector as JSON into `w`
/// through the process's cache.
void write_vector(json_writer& w, const std::string& collection, const document& doc);

} // namespace lifeline::api
