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

  expected<void> create_collection(const collection_spec& spec) override;
  expected<void> drop_collection(const std::string& name) override;
  expected<std::vector<collection_spec>> list_collections() override;
  expected<lifeline::collection_stats> collection_stats(const std::string& name) override;
  expected<void> upsert(const std::string& collection, const std::vector<document>& docs) override;
  expected<document> get(const std::string& collection, const std::string& id) override;
  expected<void> remove(const std::string& collection, const std::string& id) override;
  expected<std::vector<search_hit>> search(const search_query& query) override;
  expected<void> probe() override { return {}; }

private:
  struct collection {
    collection_spec spec;
    std::unordered_map<std::string, document> docs;
  };

  /// Looks up a collection; callers hold mutex_.
  expected<collection*> find(const std::string& name);

  uint32_t concurrency_;
  std::shared_mutex mutex_;
  std::map<std::string, collection> collections_;
};

} // namespace lifeline
