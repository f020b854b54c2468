// One thread that runs short callbacks at given times: the direct read path
// uses it to hedge a slow read, or to give up on it, without a timer per
// read. Arming is a heap push under a mutex; the thread wakes only when
// the earliest deadline changes or passes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace lifeline {

class hedge_timer {
public:
  using clock = std::chrono::steady_clock;

  hedge_timer();
  /// Stops the thread; callbacks not yet due are dropped unrun.
  ~hedge_timer();
  hedge_timer(const hedge_timer&) = delete;
  hedge_timer& operator=(const hedge_timer&) = delete;

  /// Runs `fn` on the timer's thread at `when` (at once if it has passed).
  /// `fn` must be short and must not block.
  void at(clock::time_point when, std::function<void()> fn);

private:
  struct entry {
    clock::time_point when;
    uint64_t seq; ///< Keeps equal times in arming order.
    std::function<void()> fn;
    bool operator>(const entry& o) const {
      return when != o.when ? when > o.when : seq > o.seq;
    }
  };
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> due_;
  uint64_t seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace lifeline
