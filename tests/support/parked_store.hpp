// Test-only: a real in-memory store whose direct reads (get_async,
// search_async) can be made to fail, or parked until the test lets them
// answer, as a backend's event loop would answer late. Everything else
// passes through to the store. Used to test the direct read path
// (actors/direct_reads.hpp) deterministically: nothing waits on time.
#pragma once

#include "backends/memory_backend.hpp"

#include <functional>
#include <mutex>
#include <vector>

namespace lifeline::testing {

class parked_store final : public backend {
public:
  enum class mode { pass, fail, park };

  explicit parked_store(std::shared_ptr<backend> inner = std::make_shared<memory_backend>())
    : inner_(std::move(inner)) {}

  void set(mode m) {
    std::lock_guard<std::mutex> lock{mutex_};
    mode_ = m;
  }
  /// Answers every parked read now (with the store's real answer).
  void release() {
    std::vector<std::function<void()>> parked;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      parked.swap(parked_);
    }
    for (auto& p : parked) p();
  }
  size_t parked() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return parked_.size();
  }
  uint64_t direct_calls() const {
    std::lock_guard<std::mutex> lock{mutex_};
    return direct_calls_;
  }

  lifeline::capabilities direct_reads() const override {
    return lifeline::capabilities{}.with(operation::get).with(operation::search);
  }
  void get_async(const std::string& c, const std::string& id, completion<document> done) override {
    run([this, c, id, done] { done(inner_->get(c, id)); }, done);
  }
  void search_async(const search_query& q, completion<std::vector<search_hit>> done) override {
    run([this, q, done] { done(inner_->search(q)); }, done);
  }

  std::string kind() const override { return inner_->kind(); }
  lifeline::capabilities capabilities() const override { return inner_->capabilities(); }
  uint32_t concurrency() const override { return inner_->concurrency(); }
  bool blocking() const override { return false; }
  expected<bool> create_collection(const collection_spec& s) override { return inner_->create_collection(s); }
  expected<void> drop_collection(const std::string& n) override { return inner_->drop_collection(n); }
  expected<std::vector<collection_spec>> list_collections() override { return inner_->list_collections(); }
  expected<lifeline::collection_stats> collection_stats(const std::string& n) override {
    return inner_->collection_stats(n);
  }
  expected<void> upsert(const std::string& c, const std::vector<document>& d) override {
    return inner_->upsert(c, d);
  }
  expected<document> get(const std::string& c, const std::string& id) override { return inner_->get(c, id); }
  expected<bool> remove(const std::string& c, const std::string& id, uint64_t v) override {
    return inner_->remove(c, id, v);
  }
  expected<std::vector<document>> scan(const scan_request& r) override { return inner_->scan(r); }
  expected<std::vector<version_entry>> versions(const range_request& r) override { return inner_->versions(r); }
  expected<uint64_t> purge_tombstones(uint64_t up_to) override { return inner_->purge_tombstones(up_to); }
  expected<std::vector<search_hit>> search(const search_query& q) override { return inner_->search(q); }
  expected<void> probe() override { return inner_->probe(); }
  expected<std::string> replica_marker() override { return inner_->replica_marker(); }
  expected<void> set_replica_marker(const std::string& m) override { return inner_->set_replica_marker(m); }

private:
  template <class Done>
  void run(std::function<void()> answer, Done done) {
    mode m;
    {
      std::lock_guard<std::mutex> lock{mutex_};
      ++direct_calls_;
      m = mode_;
      if (m == mode::park) {
        parked_.push_back(std::move(answer));
        return;
      }
    }
    if (m == mode::fail) return done(backend_error{errc::backend_unavailable, "refused (test)"});
    answer();
  }

  std::shared_ptr<backend> inner_;
  mutable std::mutex mutex_;
  mode mode_ = mode::pass;
  std::vector<std::function<void()>> parked_;
  uint64_t direct_calls_ = 0;
};

} // namespace lifeline::testing
