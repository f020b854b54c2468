// Deadlines for requests in flight, kept by the actor that sent them. One
// timer per actor (armed for the earliest deadline) replaces a CAF request
// timeout per request: each of those takes the actor clock's lock and wakes
// its thread, which halves the throughput of a request/response loop on this
// machine (see docs/BENCHMARKS.md). Pure logic with an injected clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

namespace lifeline {

class deadline_queue {
public:
  using time_point = std::chrono::steady_clock::time_point;
  using callback = std::function<void()>;

  /// Registers `on_expire` to run once `deadline` has passed, unless
  /// disarm() comes first. Returns the ticket for disarm().
  uint64_t arm(time_point deadline, callback on_expire) {
    auto id = ++last_id_;
    auto it = by_time_.emplace(deadline, id);
    by_id_.emplace(id, entry{it, std::move(on_expire)});
    return id;
  }

  /// Cancels a deadline. False if it had already expired (or never existed):
  /// the reply it guarded came too late and must be ignored.
  bool disarm(uint64_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return false;
    by_time_.erase(it->second.position);
    by_id_.erase(it);
    return true;
  }

  /// Removes every deadline at or before `now` and returns their callbacks,
  /// earliest first (the caller runs them: they may arm new deadlines).
  std::vector<callback> expire(time_point now) {
    std::vector<callback> due;
    while (!by_time_.empty() && by_time_.begin()->first <= now) {
      auto id = by_time_.begin()->second;
      auto it = by_id_.find(id);
      due.push_back(std::move(it->second.on_expire));
      by_id_.erase(it);
      by_time_.erase(by_time_.begin());
    }
    return due;
  }

  /// The earliest pending deadline.
  std::optional<time_point> next() const {
    if (by_time_.empty()) return std::nullopt;
    return by_time_.begin()->first;
  }

  size_t size() const { return by_id_.size(); }

private:
  struct entry {
    std::multimap<time_point, uint64_t>::iterator position;
    callback on_expire;
  };
  std::multimap<time_point, uint64_t> by_time_;
  std::unordered_map<uint64_t, entry> by_id_;
  uint64_t last_id_ = 0;
};

} // namespace lifeline
