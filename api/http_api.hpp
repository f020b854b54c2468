// The HTTP/JSON contract, independent of the HTTP library: a request in, a
// response out (possibly later, from another thread). It only translates
// HTTP into coordinator messages and replies back into HTTP; every decision
// about backends stays in the coordinator.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lifeline {
class coordinator_client;
class prometheus_metrics;
} // namespace lifeline

namespace lifeline::api {

struct request {
  std::string method; ///< "GET", "PUT", ...
  std::string target; ///< Path and query, as sent.
  std::string body;
  std::string authorization; ///< The Authorization header, if any.
};

struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct api_config {
  /// When set, every route except /v1/health and /metrics requires
  /// "Authorization: Bearer <token>".
  std::string bearer_token;
  /// Documents per batch upsert.
  size_t max_batch = 1000;
  /// How long the API waits for the coordinator (beyond its own deadline).
  std::chrono::milliseconds timeout{10000};
  /// Retry-After on 503 replies.
  unsigned retry_after_seconds = 5;
};

class http_api {
public:
  using reply_fn = std::function<void(response)>;

  http_api(coordinator_client& client, prometheus_metrics& metrics, api_config cfg);
  ~http_api();

  /// Handles one request; `done` is called exactly once.
  void handle(request req, reply_fn done);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace lifeline::api
