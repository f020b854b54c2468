// The HTTP server's stop, in process: a reply that comes after the server
// stopped, and even after the server and the API object are gone, is
// harmless (issue 12: each reply callback used to hold its connection and a
// raw pointer to the API). Run in the sanitizer tree too, where a late reply
// that touched freed memory would be a report.
#include "actors/runtime.hpp"
#include "api/coordinator_client.hpp"
#include "api/http_api.hpp"
#include "api/http_server.hpp"
#include "backends/memory_backend.hpp"
#include "metrics/prometheus_metrics.hpp"
#include "support/eventually.hpp"
#include "support/faulty_backend.hpp"
#include "support/server_process.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <future>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

/// Whether the API recorded a GET (its reply callback ran), from the
/// metrics text.
bool recorded_get(const prometheus_metrics& m) {
  return m.render().find("lifeline_http_requests_total{method=\"GET\"") != std::string::npos;
}

} // namespace

TEST_CASE("http: stop (the SIGTERM path, in process): a reply that comes after the server and "
          "the API are gone is dropped harmlessly",
          "[http][shutdown]") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto store = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  runtime_config rc;
  rc.backends.push_back({"primary", shared_instance(store), {}, {}, std::nullopt});
  rc.coordinator.request_timeout = 10min;
  rc.coordinator.attempt_timeout = 10min;
  rc.coordinator.probe_interval = 1h;
  auto rt = spawn_runtime(sys, rc);
  REQUIRE(rt.await_ready(sys));
  auto metrics = std::make_shared<prometheus_metrics>();
  {
    coordinator_client client{sys, rt.coordinator};
    api::api_config acfg;
    acfg.timeout = 10min; // only the backend's answer ends the read
    auto api = std::make_unique<api::http_api>(client, *metrics, acfg);
    api::server_config scfg;
    scfg.port = 0;
    auto server = std::make_unique<api::http_server>(scfg, *api, *metrics);
    auto port = server->listen();
    REQUIRE(port);
    std::thread serving([&] { server->run(200ms); });
    auto c = local_client(*port);
    REQUIRE(c.request("PUT", "/v1/collections/c", R"({"dimension":2})").status == 201);
    REQUIRE(c.request("PUT", "/v1/collections/c/documents/a", R"({"vector":[1,2]})").status == 200);
    store->inject(fault::hang, operation::get);
    auto held = std::async(std::launch::async, [p = *port] {
      try {
        return local_client(p).request("GET", "/v1/collections/c/documents/a").status;
      } catch (const api::http_error&) {
        return 0u; // closed without a reply
      }
    });
    REQUIRE(store->wait_for_hung(1));
    server->stop();
    serving.join(); // the 200 ms drain ended with the read still held
    CHECK(held.get() == 0);
    // The wrong order on purpose: the server (its io_context and
    // connections) and the API go while the bridge still holds the read's
    // reply callback.
    server.reset();
    api.reset();
    // The backend answers now: the reply runs its callback (the API's
    // state records it) and is dropped at the closed gate.
    store->clear();
    store->release();
    CHECK(eventually([&] { return recorded_get(*metrics); }));
    client.stop();
  }
  rt.stop();
}
