#include "support/test_system.hpp"

namespace lifeline::testing {

test_system::test_system() {
  cfg_.set("scheduler.policy", caf::atom("testing"));
  cfg_.set("logger.verbosity", caf::atom("quiet"));
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  // Start the clock away from the epoch, as CAF's own fixture does.
  sched_->clock().current_time += std::chrono::hours(1);
}

test_system::~test_system() {
  // Let actors that were told to stop finish before the system goes.
  sched_->run();
}

} // namespace lifeline::testing
