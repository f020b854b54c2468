#include "api/coordinator_client.hpp"

#include "core/log.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

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

coordinator_client::coordinator_client(caf::actor_system& sys, coordinator_actor coordinator)
  : sys_(sys) {
  bridge_ = sys.spawn([coordinator](caf::event_based_actor* self) -> caf::behavior {
    return {
      [self, coordinator](bridge_job& j) { j.run(self, coordinator); },
    };
  });
}

coordinator_client::~coordinator_client() { stop(); }

void coordinator_client::stop() {
  if (!bridge_) return;
  // The bridge's pending request handlers hold the jobs' completions; they
  // are destroyed as it terminates, before its monitors hear of it.
  caf::scoped_actor self{sys_};
  self->monitor(bridge_);
  self->send_exit(bridge_, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {},
                caf::after(std::chrono::seconds(5)) >> [] {
                  // Still running a completion: the caller goes on regardless
                  // (a late completion holds nothing that goes away: see
                  // http_api::serve and http_server's reply gate).
                  log().warn("stop: the HTTP bridge actor did not stop within 5 s; going on");
                });
  bridge_ = nullptr;
}

void coordinator_client::submit(job j) {
  if (bridge_) caf::anon_send(bridge_, bridge_job{std::move(j)});
}

} // namespace lifeline
