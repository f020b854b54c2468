// Why: http_api::handle is where every request from the network enters
// Lifeline: the route, the token check, the JSON body, the coordinator
// round trip and the reply. Whatever a client sends, it must answer exactly
// once, in time, with a valid status, and every error as a problem+json
// document. This target runs the real API in process, against a real actor
// system with the coordinator and two in-memory backends (no network, no
// PostgreSQL), so a fuzzed request reaches the whole path behind it.
//
// Input: four fields separated by 0xFF bytes (0xFF never occurs in UTF-8):
//   method 0xFF target 0xFF body 0xFF authorization
// Missing fields are empty. The API requires "Bearer fuzz-token" (or the
// admin token "fuzz-admin") on every route but health and metrics.
// At start-up the target creates collections "c" (l2), "c_ip" (ip) and
// "c_cos" (cosine), dimension 3, with a few documents, so paths reach deep.
// The system is built once and reused: state carries over between inputs
// (as in a running server).
#include "actors/runtime.hpp"
#include "api/coordinator_client.hpp"
#include "api/http_api.hpp"
#include "backends/memory_backend.hpp"
#include "fuzz/fuzz_support.hpp"
#include "core/log.hpp"
#include "metrics/prometheus_metrics.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>
#include <memory>

using namespace lifeline;
using namespace std::chrono_literals;
using lifeline::fuzz::fail;

namespace {

/// Longer than any deadline inside (the API gives up after 3 s): no reply
/// by then is a lost reply.
constexpr auto reply_deadline = 8s;

struct world {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<prometheus_metrics> metrics = std::make_shared<prometheus_metrics>();
  runtime rt;
  std::unique_ptr<coordinator_client> client;
  std::unique_ptr<api::http_api> api;

  world() {
    tune_scheduler(cfg);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    runtime_config rc;
    rc.backends.push_back({"primary", shared_instance(std::make_shared<memory_backend>())});
    rc.backends.push_back({"replica", shared_instance(std::make_shared<memory_backend>())});
    rc.coordinator.request_timeout = 2s;
    rc.coordinator.attempt_timeout = 1s;
    rc.coordinator.handoff_dir = lifeline::fuzz::fresh_dir("handoff");
    rc.metrics = metrics;
    rc.seed = 1;
    rt = spawn_runtime(*sys, std::move(rc));
    if (!rt.await_ready(*sys)) fail("the runtime did not become ready");
    client = std::make_unique<coordinator_client>(*sys, rt.coordinator);
    api::api_config acfg;
    acfg.bearer_token = "fuzz-token";
    acfg.admin_token = "fuzz-admin";
    acfg.max_batch = 8;
    acfg.timeout = 3s;
    api = std::make_unique<api::http_api>(*client, *metrics, acfg);
  }

  ~world() {
    client->stop(); // no completion runs after this: the API can go
    api.reset();
    client.reset();
    rt.stop();
    sys.reset();
  }

  api::response call(api::request req) {
    auto reply = std::make_shared<std::promise<api::response>>();
    auto future = reply->get_future();
    auto described = req.method + " " + req.target + " body=" + req.body;
    // A second call of `done` throws future_error on its thread: a crash.
    api->handle(std::move(req), [reply](api::response r) { reply->set_value(std::move(r)); });
    if (future.wait_for(reply_deadline) != std::future_status::ready)
      fail("no reply within 8 s to " + described);
    return future.get();
  }
};

world* the_world = nullptr;

void check(const api::response& r, const std::string& what) {
  if (r.status < 200 || r.status > 599)
    fail(what + ": status " + std::to_string(r.status) + " is not in 200..599");
  bool error = r.status >= 400;
  // By contract (docs/API.md) /v1/health answers 503 with its JSON health
  // report ("status":"unavailable") when no backend serves.
  if (r.status == 503 && r.content_type == "application/json") {
    auto json = nlohmann::json::parse(r.body, nullptr, false);
    if (json.is_object() && json.value("status", "") == "unavailable"
        && json.contains("backends"))
      return;
  }
  if (error && r.content_type != "application/problem+json")
    fail(what + ": a " + std::to_string(r.status) + " with content type " + r.content_type);
  if (error || r.content_type == "application/json") {
    auto json = nlohmann::json::parse(r.body, nullptr, false);
    if (json.is_discarded()) fail(what + ": the body is not JSON: " + r.body);
    if (error && !json.is_object()) fail(what + ": a problem that is not a JSON object");
  }
}

void seed(world& w) {
  auto put = [&](std::string target, std::string body) {
    auto r = w.call({"PUT", std::move(target), std::move(body), "Bearer fuzz-token"});
    if (r.status >= 300) fail("seeding failed: " + std::to_string(r.status) + " " + r.body);
  };
  for (auto [name, metric] : {std::pair{"c", "l2"}, {"c_ip", "ip"}, {"c_cos", "cosine"}}) {
    auto base = std::string{"/v1/collections/"} + name;
    put(base, std::string{R"({"dimension":3,"metric":")"} + metric + "\"}");
    put(base + "/documents/a", R"({"vector":[1,0,0],"content":"A","metadata":{"tag":"x"}})");
    put(base + "/documents/b", R"({"vector":[0,1,0],"content":"B","metadata":{"n":2}})");
    put(base + "/documents/c", R"({"vector":[0,0.5,0.5],"content":"C"})");
  }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log().set_level(spdlog::level::off);
  // Never destroyed: destroying a caf::actor_system inside exit() crashes
  // once CAF's own statics are gone. At exit the runtime is stopped (so no
  // actor runs while the process ends) and the system left idle.
  the_world = new world;
  seed(*the_world);
  std::atexit([] { the_world->rt.stop(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto f = lifeline::fuzz::split_fields({reinterpret_cast<const char*>(data), size}, 4);
  api::request req{f[0], f[1], f[2], f[3]};
  auto what = f[0] + " " + f[1];
  check(the_world->call(std::move(req)), what);
  // Every admitted request gives its place back before its reply is handed
  // over (a leaked place would shed every request once max_in_flight are
  // lost).
  if (the_world->api->in_flight() != 0) fail(what + ": the request still counts as in flight after its reply");
  return 0;
}
