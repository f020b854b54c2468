// How code outside the actor system (the HTTP server's threads) talks to the
// coordinator without blocking: a job is handed to a small bridge actor,
// which sends the request and runs the completion when the reply arrives.
// One hand-off costs a few microseconds; a blocking scoped_actor round trip
// would cost tens and serialise the server.
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <functional>

namespace lifeline {

class coordinator_client {
public:
  /// Runs on the bridge actor: issue requests with `self->request(...)`.
  using job = std::function<void(caf::event_based_actor* self, const coordinator_actor& c)>;

  coordinator_client(caf::actor_system& sys, coordinator_actor coordinator);
  ~coordinator_client();
  coordinator_client(const coordinator_client&) = delete;
  coordinator_client& operator=(const coordinator_client&) = delete;

  /// Thread-safe; returns at once. `j` runs on the bridge actor.
  void submit(job j);

  /// Stops the bridge and waits (a few seconds at most) until it is gone,
  /// with every reply callback it still held: after this, no job's
  /// completion runs and none holds what it captured (an HTTP connection,
  /// the API). Call it before destroying what the jobs capture; the
  /// destructor calls it too. Jobs submitted afterwards are dropped.
  void stop();

private:
  caf::actor_system& sys_;
  caf::actor bridge_;
};

} // namespace lifeline
