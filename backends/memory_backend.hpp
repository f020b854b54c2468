// An in-process store: a real store (what goes in comes out), used by the
// embedding example, the tests and the coordinator benchmark. Exact search.
#pragma once

#include "backends/backend.hpp"

#include <map>
#include <memory>
#include <shared_mutex>
#include <unordered_map>

namespace lifeline {

class memory_backend final : public backend {
public:
  /// `concurrency` is how many calls the actor wrapper may run at once.
  explicit memory_backend(uint32_t concurrency = 1) : concurrency_(concurrency) {}

  std::string kind() const override { return "memory"; }
  lifeline::capabilities capabilities() const override { return capabilities::all(); }
  uint32_t concurrency() const override { return concurrency_; }
  bool blocking() const override { return false; }

  expected<bool> create_collection(const collection_spec& spec) override;
  expected<void> drop_collection(const std::string& name) override;
  expected<std::vector<collection_spec>> list_collections() override;
  expected<lifeline::collection_stats> collection_stats(const std::string& name) override;
  expected<void> upsert(const std::string& collection, const std::vector<document>& docs) override;
  expected<document> get(const std::string& collection, const std::string& id) override;
  expected<bool> remove(const std::string& collection, const std::string& id,
                        uint64_t version) override;
  expected<std::vector<document>> scan(const scan_request& request) override;
  expected<std::vector<version_entry>> versions(const range_request& request) override;
  expected<uint64_t> purge_tombstones(uint64_t up_to) override;
  expected<std::vector<search_hit>> search(const search_query& query) override;
  expected<void> probe() override { return {}; }
  expected<std::string> replica_marker() override;
  expected<void> set_replica_marker(const std::string& marker) override;

private:
  struct collection {
    collection_spec spec;
    /// Ordered by id, so that scans page through it in byte order.
    std::map<std::string, document> docs;
    /// Deleted ids and the version of their delete.
    std::unordered_map<std::string, uint64_t> tombstones;
    /// The version stored for `id`, live or deleted (0 if none).
    uint64_t version_of(const std::string& id) const;
  };

  /// Looks up a collection; callers hold mutex_.
  expected<collection*> find(const std::string& name);

  uint32_t concurrency_;
  std::shared_mutex mutex_;
  std::map<std::string, collection> collections_;
  std::string marker_;
};

} // namespace lifeline
