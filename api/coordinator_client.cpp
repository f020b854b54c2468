#include "api/coordinator_client.hpp"

#include <caf/all.hpp>

namespace lifeline {

namespace {

struct bridge_job {
  coordinator_client::job run;
};

} // namespace

} // namespace lifeline

// Jobs carry a std::function: they never leave this process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(lifeline::bridge_job)

namespace lifeline {

coordinator_client::coordinator_client(caf::actor_system& sys, coordinator_actor coordinator) {
  bridge_ = sys.spawn([coordinator](caf::event_based_actor* self) -> caf::behavior {
    return {
      [self, coordinator](bridge_job& j) { j.run(self, coordinator); },
    };
  });
}

coordinator_client::~coordinator_client() {
  caf::anon_send_exit(bridge_, caf::exit_reason::user_shutdown);
}

void coordinator_client::submit(job j) { caf::anon_send(bridge_, bridge_job{std::move(j)}); }

} // namespace lifeline
