// Test-only fault injection: wraps a real backend and makes chosen
// operations fail, hang, throw or return corrupt data on command. The data
// lives in the wrapped backend, so it survives restarts of the actor that
// calls this wrapper (like a database behind a crashed client).
#pragma once

#include "backends/backend.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace lifeline::testing {

enum class fault : uint8_t {
  none,            ///< Pass through.
  unavailable,     ///< Connection refused (errc::backend_unavailable).
  error,           ///< A server-side error (errc::backend_error).
  hang,            ///< Block until release(), then fail with a timeout.
  throw_exception, ///< Throw std::runtime_error (the actor crashes).
  corrupt,         ///< Pass through, then damage the returned data.
};

class faulty_backend final : public backend {
public:
  explicit faulty_backend(std::shared_ptr<backend> inner);

  /// Applies `f` to every operation (probes included).
  void inject(fault f);
  /// Applies `f` to one operation.
  void inject(fault f, operation op);
  void clear() { inject(fault::none); }
  /// Per-document corruption, whatever the faults: from now on, document
  /// `id` comes back from get and scan with every vector component set to
  /// `value`, and if that is not finite, as a search hit with a non-finite
  /// distance (as a vector that an older version stored as inf would). A
  /// finite `value` beyond max_component makes a document that every
  /// backend refuses to store. Only the wrapper's replies change.
  void damage_document(std::string id, float value = INFINITY);
  /// Declare a narrower set of capabilities than the wrapped backend.
  void restrict_to(lifeline::capabilities caps);
  /// Declare operations this backend should serve first.
  void prefer(lifeline::capabilities ops);

  /// Swaps the wrapped store, as if the database lost its data (or was
  /// replaced). Only while no call runs (deterministic tests).
  void replace_inner(std::shared_ptr<backend> inner) { inner_ = std::move(inner); }
  backend& inner() { return *inner_; }

  /// Wakes every hung call; they return errc::timeout.
  void release();
  /// Waits (at most `bound`) until `n` calls hang at once.
  bool wait_for_hung(size_t n, std::chrono::milliseconds bound = std::chrono::seconds(30));
  /// Calls of `op` that reached this wrapper.
  uint64_t calls(operation op) const;

  std::string kind() const override { return inner_->kind(); }
  lifeline::capabilities capabilities() const override;
  lifeline::capabilities preferred() const override;
  uint32_t concurrency() const override { return inner_->concurrency(); }
  /// Hangs block a thread: pass detached = false explicitly to run this on
  /// the deterministic scheduler without hangs.
  bool blocking() const override { return true; }
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
  expected<range_digest> digest(const range_request& request) override;
  expected<uint64_t> purge_tombstones(uint64_t up_to) override;
  expected<std::string> replica_marker() override;
  expected<void> set_replica_marker(const std::string& marker) override;
  expected<std::vector<search_hit>> search(const search_query& query) override;
  expected<void> probe() override;

private:
  struct unit {};
  template <class T, class Call>
  expected<T> apply(operation op, Call&& call);
  template <class Call>
  expected<void> apply_void(operation op, Call&& call);

  std::shared_ptr<backend> inner_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::array<fault, operation_count> faults_{};
  std::array<uint64_t, operation_count> calls_{};
  std::map<std::string, float, std::less<>> damaged_;
  lifeline::capabilities caps_;
  lifeline::capabilities preferred_;
  size_t hung_ = 0;
  uint64_t generation_ = 0; ///< Bumped by release().
};

} // namespace lifeline::testing
