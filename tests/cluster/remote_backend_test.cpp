// A backend actor published by one node and used by another over CAF's
// network layer (issue 16): two actor systems in this process, each with its
// own middleman, talking BASP over a real socket on loopback. The caller
// connects asynchronously, calls the remote backend like a local one, and
// learns of the other node's loss through a down message on the proxy
// (CAF 0.17.6 has no node monitoring).
#include "actors/backend_actor.hpp"
#include "backends/memory_backend.hpp"
#include "cluster/node_network.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <future>

using namespace lifeline;
using namespace lifeline::cluster;
using namespace std::chrono_literals;

namespace {

struct node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  node() {
    configure_network(cfg, {std::chrono::milliseconds{200}, std::chrono::milliseconds{2000}});
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

} // namespace

TEST_CASE("network: a backend published by one node serves another, which sees it go down",
          "[network]") {
  auto remote = std::make_unique<node>();
  auto store = std::make_shared<memory_backend>();
  auto backend = spawn_backend_actor(*remote->sys, store);
  auto port = publish_backend(*remote->sys, backend, "127.0.0.1", 0);
  REQUIRE(port);

  node local;
  std::promise<caf::expected<backend_actor>> connected;
  local.sys->spawn([&](caf::event_based_actor* self) {
    connect_backend(self, "127.0.0.1", *port, 5000ms,
                    [&](caf::expected<backend_actor> r) { connected.set_value(std::move(r)); });
  });
  auto proxy = connected.get_future().get();
  REQUIRE(proxy);

  caf::scoped_actor self{*local.sys};
  bool created = false, stored = false;
  self->request(*proxy, 5s, create_atom::value, collection_spec{"c", 2, metric::l2})
    .receive([&](bool r) { created = r; }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(created);
  self->request(*proxy, 5s, upsert_atom::value, std::string{"c"},
                std::vector<document>{{"a", {1, 2}, "over the wire", "{\"k\":1}", 7}})
    .receive([&](ok_atom) { stored = true; }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(stored);
  document got;
  self->request(*proxy, 5s, get_atom::value, std::string{"c"}, std::string{"a"})
    .receive([&](document& d) { got = std::move(d); }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  CHECK(got.content == "over the wire");
  CHECK(got.metadata == "{\"k\":1}");
  CHECK(got.version == 7);
  CHECK(got.vector == std::vector<float>{1, 2});
  std::vector<search_hit> hits;
  self->request(*proxy, 5s, search_atom::value, search_query{"c", {1, 2}, 1, 0})
    .receive([&](std::vector<search_hit>& h) { hits = std::move(h); },
             [&](caf::error& e) { FAIL(caf::to_string(e)); });
  REQUIRE(hits.size() == 1);
  CHECK(hits[0].id == "a");
  // A backend error crosses the wire with its code and text.
  caf::error missing;
  self->request(*proxy, 5s, get_atom::value, std::string{"c"}, std::string{"nope"})
    .receive([](document&) {}, [&](caf::error& e) { missing = e; });
  CHECK(missing.code() == static_cast<uint8_t>(errc::not_found));

  // The other node goes away: the proxy dies with remote_link_unreachable.
  self->monitor(*proxy);
  caf::anon_send_exit(backend, caf::exit_reason::user_shutdown);
  backend = nullptr;
  remote.reset(); // its actor system stops: the connection closes
  caf::error reason;
  self->receive([&](caf::down_msg& down) { reason = down.reason; },
                caf::after(30s) >> [&] { FAIL("no down message within 30 s"); });
  CHECK(reason != caf::error{});
}
