// One collection of the vector store: an hnswlib index plus the id mapping
// and payloads (content, metadata, version) kept next to it, and the
// tombstones (id -> version) of deleted ids, both ordered by id so that a
// page of a scan costs O(log n + page), not a pass over the collection.
// Writes are last-writer-wins on
// document::version; the decision depends only on this collection's state,
// so replaying the log re-decides every write the same way. Readers run in
// parallel under a shared lock (hnswlib's search takes no locks of its own);
// so do insertions of new labels (hnswlib's addPoint locks per node), and a
// label becomes visible only once its document is published under the
// exclusive lock, which deletes, publishes and resizes hold briefly. No
// CAF in here.
#pragma once

#include "core/expected.hpp"
#include "core/types.hpp"
#include "backends/hnsw/rw_lock.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace hnswlib {
template <typename T> class HierarchicalNSW;
template <typename T> class SpaceInterface;
} // namespace hnswlib

namespace lifeline::hnsw {

struct index_params {
  size_t M = 16;
  size_t ef_construction = 200;
  uint32_t default_ef = 64;
  size_t initial_capacity = 1024;
};

class collection {
public:
  collection(collection_spec spec, index_params params);
  ~collection();

  /// Restores a collection from snapshot files (already checksummed);
  /// `with_tombstones` false for snapshots from before tombstones.
  static expected<std::unique_ptr<collection>> load(collection_spec spec, index_params params,
                                                    const std::string& index_path,
                                                    std::string_view meta, bool with_tombstones);

  const collection_spec& spec() const { return spec_; }

  // -- writes: the store runs them in parallel when their ids differ -------------

  /// Inserts or replaces (validated) documents, in order, each only if its
  /// version is >= the one stored for its id (live or tombstone); older ones
  /// are skipped. `force` (log records from before versions) applies all. A
  /// replaced document gets a new label and its old one is marked deleted:
  /// the old vector is never found again. Applying over a tombstone drops it.
  void upsert(const std::vector<document>& docs, bool force = false);
  /// Deletes `id` at `version` unless something newer is stored, keeping a
  /// tombstone (also for an unknown id). `force` deletes whatever the version
  /// and the tombstone keeps the newest version seen. True if a live
  /// document was deleted.
  bool remove(const std::string& id, uint64_t version, bool force = false);
  /// Forgets the tombstones with version <= up_to; returns how many.
  uint64_t purge_tombstones(uint64_t up_to);
  /// Makes room for `more` insertions now (the only step of an upsert that
  /// allocates much), so that the store can refuse a write before logging it.
  /// Room reserved and not yet used by upsert() counts as taken: writes
  /// logged but not applied yet (waiting for their sync) keep their room.
  void reserve(size_t more);

  // -- reads: any number at once ------------------------------------------------

  /// A live document (tombstones are not found).
  expected<document> get(const std::string& id) const;
  /// Per document: would upsert() apply it to the state as it is now?
  std::vector<bool> accepts(const std::vector<document>& docs) const;
  /// Would remove(id, version) change anything?
  bool remove_changes(const std::string& id, uint64_t version) const;
  /// Tombstones with version <= up_to.
  uint64_t tombstones_up_to(uint64_t up_to) const;
  /// Live documents with id > after (byte order), ascending, at most limit;
  /// only id and version unless with_payload. O(log n + limit) under the
  /// shared lock, held for this page only.
  std::vector<document> scan(const std::string& after, uint32_t limit, bool with_payload) const;
  /// Every stored id in (after, up_to] ("" up_to: no bound), live or
  /// tombstone, ascending, at most limit: what backend::versions() answers.
  std::vector<version_entry> versions(const std::string& after, const std::string& up_to,
                                      uint32_t limit) const;
  /// The digest of versions(after, up_to, limit), folded in place.
  range_digest digest(const std::string& after, const std::string& up_to, uint32_t limit) const;
  /// k nearest, nearest first; ef = 0 means the default.
  std::vector<search_hit> search(const std::vector<float>& query, uint32_t k, uint32_t ef) const;
  uint64_t count() const;
  /// Deleted elements as a share of all elements in the index.
  double deleted_share() const;
  size_t memory_bytes() const;

  // -- maintenance ----------------------------------------------------------------

  /// Builds a fresh index from the live documents without blocking readers
  /// or writers, then swaps it in (writes made meanwhile are carried over).
  void rebuild();
  /// Writes the index to `index_path` and returns the payloads and the
  /// tombstones, under the shared lock (readers go on; the store holds
  /// writes off meanwhile).
  std::string save(const std::string& index_path) const;
  /// The size hnswlib's saveIndex writes for the index as it is now.
  size_t saved_index_bytes() const;

private:
  struct entry {
    uint64_t label;
    std::string content;
    std::string metadata;
    uint64_t version;
  };
  using index_type = hnswlib::HierarchicalNSW<float>;

  std::unique_ptr<index_type> make_index(size_t capacity) const;
  void ensure_capacity(size_t more);
  void add(const std::vector<float>& v, uint64_t label);
  /// The stored vector of a label in the index (lock held, shared is enough).
  std::vector<float> vector_of(uint64_t label) const;
  /// The version stored for `id`, live or tombstone (lock held).
  std::optional<uint64_t> stored_version(const std::string& id) const;
  /// Feeds the entries of (after, up_to] to `f` in id order until it
  /// returns false or `limit` were fed (lock held).
  template <class F>
  void for_each_version(const std::string& after, const std::string& up_to, uint32_t limit,
                        F&& f) const;

  collection_spec spec_;
  index_params params_;
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  mutable rw_lock lock_;
  std::unique_ptr<index_type> index_;
  // Ordered by id: scans and version ranges page in id order from a
  // lower bound (a lookup costs O(log n) compares instead of a hash, which
  // is noise next to an index insertion or search).
  std::map<std::string, entry> docs_;
  /// Live labels only, to their document (a map's iterators stay valid
  /// until that element is erased): a search hit costs one hash lookup.
  std::unordered_map<uint64_t, std::map<std::string, entry>::iterator> ids_;
  /// Deleted ids and the version of their delete; never also in docs_.
  std::map<std::string, uint64_t> tombstones_;
  uint64_t next_label_ = 0;
  /// Insertions reserve() made room for that upsert() has not used yet.
  size_t reserved_ = 0;
  /// Labels upsert() took and has not inserted yet (inserts run under the
  /// shared lock, so this one is atomic); their room is taken.
  std::atomic<size_t> unadded_{0};
  /// Counts the rebuilds that swapped the index in.
  uint64_t generation_ = 0;
  /// While a rebuild runs: ids written since it copied the live set.
  bool rebuilding_ = false;
  std::unordered_set<std::string> touched_;
};

/// Plain hnswlib with no locks or payloads: the baseline of the benchmark.
/// (hnswlib 0.6.2's header defines non-inline functions, so one translation
/// unit per program may include it: collection.cpp. Everything else that
/// needs hnswlib goes through this file.)
class raw_index {
public:
  raw_index(metric m, uint32_t dimension, size_t capacity, size_t M, size_t ef_construction);
  ~raw_index();
  void add(const float* v, uint64_t label);
  /// Labels of the k nearest, nearest first, searched with hnswlib's own
  /// searchKnn at the ef of set_ef().
  std::vector<uint64_t> search(const float* q, size_t k) const;
  void set_ef(size_t ef);

private:
  std::unique_ptr<hnswlib::SpaceInterface<float>> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

} // namespace lifeline::hnsw
