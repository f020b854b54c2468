// The registry of connections awaiting a reply (see reply_gate.hpp).
#include "api/reply_gate.hpp"

namespace lifeline::api {

void awaiting_reply::hold(const void* key, std::shared_ptr<void> connection) {
  std::lock_guard lock{mutex_};
  held_.emplace(key, std::move(connection));
}

void awaiting_reply::release(const void* key) {
  std::shared_ptr<void> last; // destroyed outside the lock
  std::lock_guard lock{mutex_};
  if (auto it = held_.find(key); it != held_.end()) {
    last = std::move(it->second);
    held_.erase(it);
  }
}

size_t awaiting_reply::drop_all() {
  std::unordered_map<const void*, std::shared_ptr<void>> left;
  {
    std::lock_guard lock{mutex_};
    left.swap(held_);
  }
  return left.size();
}

} // namespace lifeline::api
