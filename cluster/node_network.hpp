// Lifeline nodes talking to each other over CAF's network layer (the
// middleman, BASP; issue 16): the settings every node's actor system needs
// and the asynchronous way to reach a backend actor published by another
// node. See ../shared/notes/caf-0.17-network.md for the pitfalls this
// addresses: heartbeats are off by default in 0.17.6 (a frozen peer is never
// dropped), every type that crosses the wire must be registered, and
// remote_actor() blocks (never inside an actor).
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace lifeline::cluster {

struct network_settings {
  /// BASP heartbeats, and how long a silent peer is kept before its
  /// connection is dropped (its proxies die with remote_link_unreachable).
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds connection_timeout{10000};
};

/// Loads the middleman into `cfg`, registers every message type a backend
/// actor's protocol sends, names the application ("lifeline": CAF refuses a
/// peer with another) and turns heartbeats on. Call before the system starts.
void configure_network(caf::actor_system_config& cfg, network_settings settings = {});

/// Publishes `backend` on host:port (0: any free port): the port.
caf::expected<uint16_t> publish_backend(caf::actor_system& sys, const backend_actor& backend,
                                        const std::string& host, uint16_t port);

/// Connects to the actor another node published at host:port, from inside
/// `self`, asynchronously and within `timeout`; `done` gets its handle (not
/// yet monitored) or why not.
void connect_actor(caf::event_based_actor* self, const std::string& host, uint16_t port,
                   std::chrono::milliseconds timeout,
                   std::function<void(caf::expected<caf::actor>)> done);

/// Connects to a backend actor another node published, from inside `self`,
/// asynchronously and within `timeout`; `done` gets the handle (not yet
/// monitored) or why not.
void connect_backend(caf::event_based_actor* self, const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout,
                     std::function<void(caf::expected<backend_actor>)> done);

} // namespace lifeline::cluster
