// The HTTP/JSON contract, independent of the HTTP library: a request in, a
// response out (possibly later, from another thread). It only translates
// HTTP into coordinator messages and replies back into HTTP; every decision
// about backends stays in the coordinator.
#pragma once

#include "core/limits.hpp"
#include "core/types.hpp"
#include "api/request_parser.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

namespace lifeline {
class coordinator_client;
class direct_reads;
class prometheus_metrics;
} // namespace lifeline

namespace lifeline::api {

class json_writer;

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

/// A JSON reply with `status`.
response json_reply(unsigned status, std::string body);

/// A problem+json reply (RFC 9457): the one place error bodies are built
/// (the API's, the HTTP server's and its raw shed reply). `members`, if
/// given, adds members after type, title, status and detail (e.g. the
/// "backends" of an outage).
response problem(unsigned status, std::string_view title, std::string_view detail,
                 const std::function<void(json_writer&)>& members = {});

struct api_config {
  /// When set, every route except /v1/health and /metrics requires
  /// "Authorization: Bearer <token>".
  std::string bearer_token;
  /// When set, the admin routes (/v1/admin/...) require this token instead
  /// (it also opens every other route).
  std::string admin_token;
  /// Documents per batch upsert.
  size_t max_batch = default_max_batch;
  /// How long the API waits for the coordinator (beyond its own deadline).
  std::chrono::milliseconds timeout{10000};
  /// GET /v1/admin/check waits this long for its job, then answers 202
  /// with the job's status URL (below the usual 30-60 s client timeouts).
  std::chrono::milliseconds check_wait{25000};
  /// Retry-After on 503 replies for failed backends.
  unsigned retry_after_seconds = 5;
  /// Requests served at once (body read, reply not yet sent); past it a
  /// request is shed from its headers with a fast 503 (0: no bound).
  uint32_t max_in_flight = 1024;
  /// Retry-After on a shed request.
  unsigned shed_retry_after_seconds = 1;
  /// Bound of the process's cache of encoded vectors for GET replies
  /// (api/vector_json_cache.hpp); 0 turns it off.
  size_t vector_cache_bytes = size_t{64} << 20;
  /// With several nodes: the health reply's "cluster" object (JSON text,
  /// from the server's cluster view); empty: none.
  std::function<std::string()> cluster_health;
};

/// The 200 reply to a GET of one document, as every read path writes it
/// (the vector's JSON text from the process's vector cache).
response document_reply(const std::string& collection, const document& d, const std::string& backend);
/// The 200 reply to a search, as every read path writes it.
response search_reply(const std::vector<search_hit>& hits, const std::string& backend);

/// One of the API's in-flight places; given back when the last copy goes.
class in_flight_slot {
public:
  explicit in_flight_slot(std::function<void()> release) : release_(std::move(release)) {}
  ~in_flight_slot() { release_(); }
  in_flight_slot(const in_flight_slot&) = delete;
  in_flight_slot& operator=(const in_flight_slot&) = delete;

private:
  std::function<void()> release_;
};

/// What the API decided from a request's head (method, target,
/// Authorization), before its body is read: serve it, or refuse it. The
/// route is parsed here once; serve() dispatches on `op` without looking
/// at the path or the method again.
struct screened {
  std::optional<response> refusal; ///< Set: reply with it and read no body.
  std::optional<route> target;     ///< The parsed route (when known).
  endpoint op = endpoint::health;  ///< What the method asks of the route (when not refused).
  bool authenticated = false;      ///< A valid token came (or none is configured): errors may be shown.
  std::shared_ptr<in_flight_slot> slot; ///< Held until the reply is ready.
  std::chrono::steady_clock::time_point start;
};

class http_api {
public:
  using reply_fn = std::function<void(response)>;

  /// `reads`, if given, serves gets and searches directly from the
  /// coordinator's routing snapshot (actors/direct_reads.hpp); it must
  /// outlive every request served. Without it they go to the coordinator.
  http_api(coordinator_client& client, prometheus_metrics& metrics, api_config cfg,
           direct_reads* reads = nullptr);
  ~http_api();

  /// Decides from the head alone (req.body is not looked at): unknown route,
  /// bad name, method not allowed, missing token, or overload refuse the
  /// request at once. Thread-safe.
  screened screen(const request& head);
  /// Serves a screened request once its body is in: dispatches on s.op
  /// (the path is not parsed again); `done` is called exactly once
  /// (possibly later, from another thread).
  void serve(screened s, request req, reply_fn done);
  /// screen + serve, for a request read whole (tests, fuzzing).
  void handle(request req, reply_fn done);

  /// Requests admitted and not yet answered.
  uint32_t in_flight() const;

private:
  struct impl;
  std::shared_ptr<impl> impl_; ///< Shared with the reply callbacks in flight.
};

} // namespace lifeline::api
