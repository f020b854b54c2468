// The HTTP contract in process (no sockets): http_api over a real runtime
// with an in-memory backend. What the server decides from a request's head,
// and the in-flight bound's bookkeeping.
#include "actors/runtime.hpp"
#include "api/coordinator_client.hpp"
#include "api/http_api.hpp"
#include "backends/memory_backend.hpp"
#include "metrics/prometheus_metrics.hpp"
#include "support/faulty_backend.hpp"

#include <catch2/catch.hpp>
#include <caf/all.hpp>

#include <future>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

struct in_process {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<prometheus_metrics> metrics = std::make_shared<prometheus_metrics>();
  runtime rt;
  std::unique_ptr<coordinator_client> client;
  std::unique_ptr<api::http_api> api;

  explicit in_process(api::api_config acfg,
                      std::shared_ptr<backend> store = std::make_shared<memory_backend>(),
                      std::shared_ptr<backend> second = nullptr) {
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    runtime_config rc;
    rc.backends.push_back({"memory", shared_instance(std::move(store))});
    if (second) rc.backends.push_back({"second", shared_instance(std::move(second))});
    rc.metrics = metrics;
    rc.seed = 1;
    rt = spawn_runtime(*sys, std::move(rc));
    REQUIRE(rt.await_ready(*sys));
    client = std::make_unique<coordinator_client>(*sys, rt.coordinator);
    api = std::make_unique<api::http_api>(*client, *metrics, acfg);
  }

  ~in_process() {
    client->stop(); // no completion runs after this: the API can go
    api.reset();
    client.reset();
    rt.stop();
  }

  /// The reply, and the API's requests in flight as the reply was handed over.
  std::pair<api::response, uint32_t> call(api::request req) {
    std::promise<std::pair<api::response, uint32_t>> p;
    auto f = p.get_future();
    api->handle(std::move(req), [&](api::response r) { p.set_value({std::move(r), api->in_flight()}); });
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    return f.get();
  }
};

} // namespace

TEST_CASE("http: in process: a request's in-flight place is free when its reply is handed over",
          "[http][api][overload]") {
  in_process w{api::api_config{}};
  auto [created, n1] = w.call({"PUT", "/v1/collections/c", R"({"dimension":2})", ""});
  CHECK(created.status == 201);
  CHECK(n1 == 0);
  auto [missing, n2] = w.call({"GET", "/v1/collections/c/documents/x", "", ""});
  CHECK(missing.status == 404); // an error reply frees it too
  CHECK(n2 == 0);
  CHECK(w.api->in_flight() == 0);
}

TEST_CASE("http: in process: PUT of a collection is one create: 201 new, 200 again, 409 another spec",
          "[http][api]") {
  // The wrapper passes every call through and counts them.
  auto store = std::make_shared<testing::faulty_backend>(std::make_shared<memory_backend>());
  in_process w{api::api_config{}, store};
  auto created = w.call({"PUT", "/v1/collections/c", R"({"dimension":2,"metric":"cosine"})", ""}).first;
  CHECK(created.status == 201);
  CHECK(created.body.find(R"("name":"c","dimension":2,"metric":"cosine")") != std::string::npos);
  CHECK(created.body.find(R"("backends":{"memory":"applied"})") != std::string::npos);
  auto again = w.call({"PUT", "/v1/collections/c", R"({"dimension":2,"metric":"cosine"})", ""}).first;
  CHECK(again.status == 200);
  CHECK(again.body == created.body);
  auto other = w.call({"PUT", "/v1/collections/c", R"({"dimension":3,"metric":"cosine"})", ""}).first;
  CHECK(other.status == 409);
  CHECK(other.content_type == "application/problem+json");
  CHECK(store->calls(operation::create_collection) == 3);
  CHECK(store->calls(operation::collection_stats) == 0);
}

TEST_CASE("http: in process: PUT of a collection is 201 if any backend created it", "[http][api]") {
  auto first = std::make_shared<memory_backend>(), second = std::make_shared<memory_backend>();
  REQUIRE(first->create_collection({"c", 2, metric::l2})); // only the first holds it
  in_process w{api::api_config{}, first, second};
  auto put = w.call({"PUT", "/v1/collections/c", R"({"dimension":2})", ""}).first;
  CHECK(put.status == 201);
  CHECK(put.body.find(R"("backends":{"memory":"applied","second":"applied"})") != std::string::npos);
  CHECK(w.call({"PUT", "/v1/collections/c", R"({"dimension":2})", ""}).first.status == 200);
}

TEST_CASE("http: in process: the head decides route, method, name and token before any body",
          "[http][api][token]") {
  api::api_config acfg;
  acfg.bearer_token = "user";
  acfg.admin_token = "admin";
  in_process w{acfg};
  api::request head{"PUT", "/v1/collections/c/documents/a", "", ""};
  auto s = w.api->screen(head);
  REQUIRE(s.refusal);
  CHECK(s.refusal->status == 401);
  head.authorization = "Bearer user";
  CHECK_FALSE(w.api->screen(head).refusal);
  head.target = "/v1/collections/c%00/documents/a";
  CHECK(w.api->screen(head).refusal->status == 400);
  head.target = "/v1/collections/c/documents/a";
  head.method = "BREW";
  auto wrong = w.api->screen(head);
  CHECK(wrong.refusal->status == 405);
  head.method = "POST";
  head.target = "/v1/admin/backends/memory/stop";
  CHECK(w.api->screen(head).refusal->status == 401); // the user token is not the admin's
  head.authorization = "Bearer admin";
  CHECK_FALSE(w.api->screen(head).refusal);
  CHECK(w.api->screen({"GET", "/nowhere", "", ""}).refusal->status == 404);
}

TEST_CASE("http: in process: past max_in_flight the head is refused with 503 Overloaded",
          "[http][api][overload]") {
  api::api_config acfg;
  acfg.max_in_flight = 2;
  in_process w{acfg};
  api::request head{"GET", "/v1/collections", "", ""};
  auto first = w.api->screen(head), second = w.api->screen(head);
  CHECK_FALSE(first.refusal);
  CHECK_FALSE(second.refusal);
  auto third = w.api->screen(head);
  REQUIRE(third.refusal);
  CHECK(third.refusal->status == 503);
  CHECK(third.refusal->body.find("Overloaded") != std::string::npos);
  CHECK(w.api->in_flight() == 2);
  // /metrics is never shed.
  CHECK_FALSE(w.api->screen({"GET", "/metrics", "", ""}).refusal);
  first = {};
  CHECK(w.api->in_flight() == 1);
  CHECK_FALSE(w.api->screen(head).refusal);
}

TEST_CASE("http: in process: an admin token alone guards the admin routes only",
          "[http][api][token]") {
  api::api_config acfg;
  acfg.admin_token = "admin";
  in_process w{acfg};
  CHECK_FALSE(w.api->screen({"GET", "/v1/collections", "", ""}).refusal);
  CHECK(w.api->screen({"POST", "/v1/admin/backends/memory/stop", "", ""}).refusal->status == 401);
  CHECK_FALSE(w.api->screen({"POST", "/v1/admin/backends/memory/stop", "", "Bearer admin"}).refusal);
  // Error texts only with a token, as soon as one is configured.
  CHECK_FALSE(w.api->screen({"GET", "/v1/health", "", ""}).authenticated);
  CHECK(w.api->screen({"GET", "/v1/health", "", "Bearer admin"}).authenticated);
}

TEST_CASE("http: in process: a GET after a new write of the id serves the new vector, not the cached one",
          "[http][api][vector_cache]") {
  in_process w{api::api_config{}};
  REQUIRE(w.call({"PUT", "/v1/collections/c", R"({"dimension":2})", ""}).first.status == 201);
  REQUIRE(w.call({"PUT", "/v1/collections/c/documents/a", R"({"vector":[0.1,0.2]})", ""}).first.status == 200);
  auto first = w.call({"GET", "/v1/collections/c/documents/a", "", ""}).first;
  REQUIRE(first.status == 200);
  CHECK(first.body.find(R"("vector":[0.1,0.2])") != std::string::npos);
  CHECK(w.call({"GET", "/v1/collections/c/documents/a", "", ""}).first.body == first.body); // a hit: the same text
  REQUIRE(w.call({"PUT", "/v1/collections/c/documents/a", R"({"vector":[3.5,-0.25]})", ""}).first.status == 200);
  auto second = w.call({"GET", "/v1/collections/c/documents/a", "", ""}).first;
  REQUIRE(second.status == 200);
  CHECK(second.body.find(R"("vector":[3.5,-0.25])") != std::string::npos);
  CHECK(second.body.find(R"("vector":[0.1,0.2])") == std::string::npos);
  // The same id in another collection is its own entry.
  REQUIRE(w.call({"PUT", "/v1/collections/d", R"({"dimension":2})", ""}).first.status == 201);
  REQUIRE(w.call({"PUT", "/v1/collections/d/documents/a", R"({"vector":[7,8]})", ""}).first.status == 200);
  CHECK(w.call({"GET", "/v1/collections/d/documents/a", "", ""}).first.body.find(R"("vector":[7,8])")
        != std::string::npos);
}

TEST_CASE("http: in process: a PUT body may repeat the path's id but not name another and a batch "
          "refuses unknown fields: nothing is stored", "[http][api]") {
  in_process w{api::api_config{}};
  REQUIRE(w.call({"PUT", "/v1/collections/c", R"({"dimension":2})", ""}).first.status == 201);
  auto other = w.call({"PUT", "/v1/collections/c/documents/a", R"({"id":"b","vector":[1,2]})", ""}).first;
  CHECK(other.status == 400);
  CHECK(other.body.find("differs from the path") != std::string::npos);
  CHECK(w.call({"PUT", "/v1/collections/c/documents/a", R"({"id":7,"vector":[1,2]})", ""}).first.status == 400);
  auto extra = w.call({"POST", "/v1/collections/c/documents",
                       R"({"documents":[{"id":"z","vector":[1,2]}],"upsert":true})", ""}).first;
  CHECK(extra.status == 400);
  CHECK(extra.body.find("unknown field 'upsert'") != std::string::npos);
  for (auto id : {"a", "b", "z"})
    CHECK(w.call({"GET", std::string{"/v1/collections/c/documents/"} + id, "", ""}).first.status == 404);
  // The same id as the path's is the document's own.
  CHECK(w.call({"PUT", "/v1/collections/c/documents/a", R"({"id":"a","vector":[1,2]})", ""}).first.status == 200);
  CHECK(w.call({"GET", "/v1/collections/c/documents/a", "", ""}).first.status == 200);
}

TEST_CASE("http: in process: each request is counted once in its method, route and status series",
          "[http][api]") {
  in_process w{api::api_config{}};
  REQUIRE(w.call({"PUT", "/v1/collections/c", R"({"dimension":2})", ""}).first.status == 201);
  for (int i = 0; i < 3; ++i)
    CHECK(w.call({"GET", "/v1/collections/c/documents/x", "", ""}).first.status == 404);
  REQUIRE(w.call({"PUT", "/v1/collections/c/documents/x", R"({"vector":[1,2]})", ""}).first.status == 200);
  CHECK(w.call({"GET", "/v1/collections/c/documents/x", "", ""}).first.status == 200);
  auto text = w.metrics->render();
  CHECK(text.find(R"(lifeline_http_requests_total{method="GET",route="/v1/collections/{name}/documents/{id}",status="404"} 3)")
        != std::string::npos);
  CHECK(text.find(R"(lifeline_http_requests_total{method="GET",route="/v1/collections/{name}/documents/{id}",status="200"} 1)")
        != std::string::npos);
  CHECK(text.find(R"(lifeline_http_requests_total{method="PUT",route="/v1/collections/{name}/documents/{id}",status="200"} 1)")
        != std::string::npos);
  CHECK(text.find(R"(lifeline_http_request_duration_seconds_count{route="/v1/collections/{name}/documents/{id}"} 5)")
        != std::string::npos);
}
