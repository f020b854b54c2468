#include "support/faulty_backend.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lifeline::testing {

namespace {

// How `corrupt` damages each kind of result: always so that an invariant
// the backend actor checks is broken.
void damage(document& d) { d.id += "~corrupt"; }

void damage(std::vector<search_hit>& hits) {
  if (hits.size() >= 2) {
    std::reverse(hits.begin(), hits.end()); // no longer nearest first
    if (hits.front().distance == hits.back().distance) hits.push_back(hits.front());
  } else {
    hits.push_back(search_hit{"ghost", std::nanf(""), {}, {}});
  }
}

void damage(collection_stats& s) { s.spec.name += "~corrupt"; }

template <class T>
void damage(T&) {} // nothing checkable to break (lists, acknowledgements)

// What damage_document does to the replies that carry that document.
using damaged_ids = std::map<std::string, float, std::less<>>;

void spoil(document& d, const damaged_ids& ids) {
  if (auto it = ids.find(d.id); it != ids.end())
    std::fill(d.vector.begin(), d.vector.end(), it->second);
}

void spoil(std::vector<document>& docs, const damaged_ids& ids) {
  for (auto& d : docs) spoil(d, ids);
}

void spoil(std::vector<search_hit>& hits, const damaged_ids& ids) {
  for (auto& h : hits)
    if (auto it = ids.find(h.id); it != ids.end() && !std::isfinite(it->second))
      h.distance = std::nanf("");
}

template <class T>
void spoil(T&, const damaged_ids&) {}

} // namespace

faulty_backend::faulty_backend(std::shared_ptr<backend> inner)
  : inner_(std::move(inner)), caps_(inner_->capabilities()) {
  faults_.fill(fault::none);
}

void faulty_backend::inject(fault f) {
  std::lock_guard guard{mutex_};
  faults_.fill(f);
}

void faulty_backend::inject(fault f, operation op) {
  std::lock_guard guard{mutex_};
  faults_[static_cast<size_t>(op)] = f;
}

void faulty_backend::damage_document(std::string id, float value) {
  std::lock_guard guard{mutex_};
  damaged_.insert_or_assign(std::move(id), value);
}

void faulty_backend::restrict_to(lifeline::capabilities caps) {
  std::lock_guard guard{mutex_};
  caps_ = caps;
}

void faulty_backend::prefer(lifeline::capabilities ops) {
  std::lock_guard guard{mutex_};
  preferred_ = ops;
}

lifeline::capabilities faulty_backend::preferred() const {
  std::lock_guard guard{mutex_};
  return preferred_;
}

lifeline::capabilities faulty_backend::capabilities() const {
  std::lock_guard guard{mutex_};
  return caps_;
}

void faulty_backend::release() {
  std::lock_guard guard{mutex_};
  ++generation_;
  cv_.notify_all();
}

bool faulty_backend::wait_for_hung(size_t n, std::chrono::milliseconds bound) {
  std::unique_lock guard{mutex_};
  return cv_.wait_for(guard, bound, [&] { return hung_ >= n; });
}

uint64_t faulty_backend::calls(operation op) const {
  std::lock_guard guard{mutex_};
  return calls_[static_cast<size_t>(op)];
}

template <class T, class Call>
expected<T> faulty_backend::apply(operation op, Call&& call) {
  fault f;
  {
    std::unique_lock guard{mutex_};
    ++calls_[static_cast<size_t>(op)];
    f = faults_[static_cast<size_t>(op)];
    if (f == fault::hang) {
      ++hung_;
      cv_.notify_all();
      auto gen = generation_;
      cv_.wait(guard, [&] { return generation_ != gen; });
      --hung_;
      return make_backend_error(errc::timeout, "injected hang, released");
    }
  }
  switch (f) {
    case fault::unavailable:
      return make_backend_error(errc::backend_unavailable, "injected: connection refused");
    case fault::error:
      return make_backend_error(errc::backend_error, "injected: server error");
    case fault::throw_exception:
      throw std::runtime_error("injected exception");
    default:
      break;
  }
  auto result = call();
  if (f == fault::corrupt && result) damage(*result);
  if (result) {
    std::lock_guard guard{mutex_};
    if (!damaged_.empty()) spoil(*result, damaged_);
  }
  return result;
}

template <class Call>
expected<void> faulty_backend::apply_void(operation op, Call&& call) {
  // expected<void> holds nothing to damage; pass an empty value through apply.
  auto r = apply<unit>(op, [&]() -> expected<unit> {
    auto inner = call();
    if (!inner) return inner.error();
    return unit{};
  });
  if (!r) return r.error();
  return {};
}

expected<bool> faulty_backend::create_collection(const collection_spec& spec) {
  return apply<bool>(operation::create_collection, [&] { return inner_->create_collection(spec); });
}

expected<void> faulty_backend::drop_collection(const std::string& name) {
  return apply_void(operation::drop_collection, [&] { return inner_->drop_collection(name); });
}

expected<void> faulty_backend::upsert(const std::string& c, const std::vector<document>& docs) {
  return apply_void(operation::upsert, [&] { return inner_->upsert(c, docs); });
}

expected<bool> faulty_backend::remove(const std::string& c, const std::string& id,
                                      uint64_t version) {
  return apply<bool>(operation::remove, [&] { return inner_->remove(c, id, version); });
}

expected<std::vector<document>> faulty_backend::scan(const scan_request& request) {
  return apply<std::vector<document>>(operation::scan, [&] { return inner_->scan(request); });
}

// Repair reads count as scans for fault injection.
expected<std::vector<version_entry>> faulty_backend::versions(const range_request& request) {
  return apply<std::vector<version_entry>>(operation::scan,
                                           [&] { return inner_->versions(request); });
}

expected<range_digest> faulty_backend::digest(const range_request& request) {
  return apply<range_digest>(operation::scan, [&] { return inner_->digest(request); });
}

// Tombstone purges and replica markers are bookkeeping of the store as a
// whole: they fail with the probe's fault (a store that is "down" fails them).
expected<uint64_t> faulty_backend::purge_tombstones(uint64_t up_to) {
  return apply<uint64_t>(operation::probe, [&] { return inner_->purge_tombstones(up_to); });
}

expected<std::string> faulty_backend::replica_marker() {
  return apply<std::string>(operation::probe, [&] { return inner_->replica_marker(); });
}

expected<void> faulty_backend::set_replica_marker(const std::string& marker) {
  return apply_void(operation::probe, [&] { return inner_->set_replica_marker(marker); });
}

expected<void> faulty_backend::probe() {
  return apply_void(operation::probe, [&] { return inner_->probe(); });
}

expected<std::vector<collection_spec>> faulty_backend::list_collections() {
  return apply<std::vector<collection_spec>>(operation::list_collections,
                                             [&] { return inner_->list_collections(); });
}

expected<collection_stats> faulty_backend::collection_stats(const std::string& name) {
  return apply<lifeline::collection_stats>(operation::collection_stats,
                                           [&] { return inner_->collection_stats(name); });
}

expected<document> faulty_backend::get(const std::string& c, const std::string& id) {
  return apply<document>(operation::get, [&] { return inner_->get(c, id); });
}

expected<std::vector<search_hit>> faulty_backend::search(const search_query& q) {
  return apply<std::vector<search_hit>>(operation::search, [&] { return inner_->search(q); });
}

} // namespace lifeline::testing
