#include "server/hard_stop.hpp"

#include "actors/busy_calls.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

namespace lifeline::server {

hard_stop::hard_stop(std::chrono::milliseconds grace) {
  thread_ = std::thread([this, grace] {
    std::unique_lock lock{mutex_};
    if (cv_.wait_for(lock, grace, [this] { return done_; })) return;
    log().error("stop: the backends did not stop within {} ms after the drain (calls still "
                "running: {}); exiting now. Acknowledged writes are durable; the calls still "
                "running were never acknowledged",
                grace.count(), describe_busy_calls());
    log().flush();
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(0);
  });
}

hard_stop::~hard_stop() {
  log().info("stop: every actor stopped; exiting");
  {
    std::lock_guard lock{mutex_};
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

} // namespace lifeline::server
