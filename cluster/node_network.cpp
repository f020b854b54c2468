#include "cluster/node_network.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <set>

namespace lifeline::cluster {

void configure_network(caf::actor_system_config& cfg, network_settings settings) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.app-identifiers", std::vector<std::string>{"lifeline"});
  cfg.set("middleman.heartbeat-interval", caf::timespan{settings.heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{settings.connection_timeout});
  // A backend actor's protocol (actors.hpp): registering T registers
  // std::vector<T> too.
  cfg.add_message_type<collection_spec>("lifeline::collection_spec");
  cfg.add_message_type<collection_stats>("lifeline::collection_stats");
  cfg.add_message_type<document>("lifeline::document");
  cfg.add_message_type<search_query>("lifeline::search_query");
  cfg.add_message_type<search_hit>("lifeline::search_hit");
  cfg.add_message_type<scan_request>("lifeline::scan_request");
  cfg.add_message_type<range_request>("lifeline::range_request");
  cfg.add_message_type<version_entry>("lifeline::version_entry");
  cfg.add_message_type<range_digest>("lifeline::range_digest");
  // A replica's lifecycle (replica_link.hpp), and the requests a follower
  // hands to the leader's coordinator with their replies.
  cfg.add_message_type<lifecycle_event>("lifeline::lifecycle_event");
  cfg.add_message_type<backend_write>("lifeline::backend_write");
  cfg.add_message_type<write_receipt>("lifeline::write_receipt");
  cfg.add_message_type<read_escalation>("lifeline::read_escalation");
  cfg.add_message_type<served<document>>("lifeline::served<document>");
  cfg.add_message_type<served<std::vector<search_hit>>>("lifeline::served<search_hits>");
  cfg.add_message_type<served<std::vector<collection_spec>>>("lifeline::served<collections>");
  cfg.add_message_type<served<collection_stats>>("lifeline::served<stats>");
  cfg.add_message_type<replica_lease>("lifeline::replica_lease");
  // Checks a follower hands to the leader.
  cfg.add_message_type<collection_check>("lifeline::collection_check");
  cfg.add_message_type<check_progress>("lifeline::check_progress");
  cfg.add_message_type<consistency_report>("lifeline::consistency_report");
  cfg.add_message_type<check_status>("lifeline::check_status");
}

caf::expected<uint16_t> publish_backend(caf::actor_system& sys, const backend_actor& backend,
                                        const std::string& host, uint16_t port) {
  return sys.middleman().publish(backend, port, host.c_str(), true);
}

namespace {

/// The middleman's connect, with the published actor's interface.
void connect_published(caf::event_based_actor* self, const std::string& host, uint16_t port,
                       std::chrono::milliseconds timeout,
                       std::function<void(caf::expected<caf::strong_actor_ptr>,
                                          const std::set<std::string>&)> done) {
  self->request(self->system().middleman().actor_handle(), timeout, caf::connect_atom::value,
                host, port)
    .then(
      [done](const caf::node_id&, caf::strong_actor_ptr& ptr,
             const std::set<std::string>& interface) {
        if (!ptr)
          return done(caf::make_error(caf::sec::no_actor_published_at_port, "nothing published"),
                      interface);
        done(std::move(ptr), interface);
      },
      [done](caf::error& err) { done(std::move(err), {}); });
}

} // namespace

void connect_actor(caf::event_based_actor* self, const std::string& host, uint16_t port,
                   std::chrono::milliseconds timeout,
                   std::function<void(caf::expected<caf::actor>)> done) {
  connect_published(self, host, port, timeout,
                    [done](caf::expected<caf::strong_actor_ptr> ptr, const std::set<std::string>&) {
                      if (!ptr) return done(std::move(ptr.error()));
                      done(caf::actor_cast<caf::actor>(std::move(*ptr)));
                    });
}

void connect_backend(caf::event_based_actor* self, const std::string& host, uint16_t port,
                     std::chrono::milliseconds timeout,
                     std::function<void(caf::expected<backend_actor>)> done) {
  auto& sys = self->system();
  connect_published(self, host, port, timeout,
                    [&sys, done](caf::expected<caf::strong_actor_ptr> ptr,
                                 const std::set<std::string>& interface) {
                      if (!ptr) return done(std::move(ptr.error()));
                      if (!sys.assignable<backend_actor>(interface))
                        return done(caf::make_error(caf::sec::unexpected_actor_messaging_interface,
                                                    "the published actor is no backend"));
                      done(caf::actor_cast<backend_actor>(std::move(*ptr)));
                    });
}

} // namespace lifeline::cluster
