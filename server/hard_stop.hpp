// The bound on a stop. Why: after the drain the server stops the actor
// system, whose destructor waits for every actor, and a detached worker
// blocked in a backend call (a frozen database, a hung disk) cannot be
// interrupted: without a bound the process would wait as long as the
// backend does. Armed once serving has ended, the hard stop gives the
// orderly stop `grace`; past it, it logs which backends were still busy,
// flushes the log and ends the process with status 0 (std::_Exit: no
// destructor runs on a half-stopped system). What was acknowledged is
// already durable; a write still running was never acknowledged.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace lifeline::server {

class hard_stop {
public:
  explicit hard_stop(std::chrono::milliseconds grace);
  /// The orderly stop finished in time: cancels the timer.
  ~hard_stop();
  hard_stop(const hard_stop&) = delete;
  hard_stop& operator=(const hard_stop&) = delete;

private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

} // namespace lifeline::server
