#include "actors/hedge_timer.hpp"

namespace lifeline {

hedge_timer::hedge_timer() : thread_([this] { run(); }) {}

hedge_timer::~hedge_timer() {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void hedge_timer::at(clock::time_point when, std::function<void()> fn) {
  bool earliest;
  {
    std::lock_guard<std::mutex> lock{mutex_};
    earliest = due_.empty() || when < due_.top().when;
    due_.push(entry{when, seq_++, std::move(fn)});
  }
  // Under load there is almost always an earlier entry: no wake-up then.
  if (earliest) wake_.notify_one();
}

void hedge_timer::run() {
  std::unique_lock<std::mutex> lock{mutex_};
  while (!stopping_) {
    if (due_.empty()) {
      wake_.wait(lock);
      continue;
    }
    auto when = due_.top().when;
    if (clock::now() < when) {
      wake_.wait_until(lock, when);
      continue;
    }
    // priority_queue::top is const: move the callback out before popping.
    auto fn = std::move(const_cast<entry&>(due_.top()).fn);
    due_.pop();
    lock.unlock();
    fn();
    lock.lock();
  }
}

} // namespace lifeline
