// Parsing of everything a client sends: the route (path → route kind with
// its collection, id and backend, each validated here by the same rules as
// a create, before anything reaches a backend) and the JSON bodies. One
// place, so no route can forget a check: a NUL or a '/' hidden in a
// percent-encoded name is refused on every route alike.
// No CAF and no HTTP library in here; it is fuzzed on its own.
#pragma once

#include "core/types.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::api {

/// A client mistake; becomes a problem+json reply with `status` (400 or 413).
struct bad_request {
  unsigned status = 400;
  std::string detail;
};

enum class route_kind : uint8_t {
  health,
  metrics,
  collections,
  collection,
  documents,
  search,
  document,
  admin_check,
  admin_restart,
  admin_stop,
  admin_start,
  admin_check_job,
  status,      ///< GET /v1/status: the status page's data.
  status_page, ///< GET /: the status page.
};

/// What a request asks for: its route and its method, resolved once from
/// the head (see endpoint_of) and dispatched on once.
enum class endpoint : uint8_t {
  health,
  metrics,
  list_collections,
  get_collection,
  create_collection,
  drop_collection,
  upsert_batch,
  search,
  get_document,
  put_document,
  delete_document,
  admin_check,
  admin_restart,
  admin_stop,
  admin_start,
  admin_check_start,  ///< POST /v1/admin/check: start a check job (202).
  admin_check_status, ///< GET /v1/admin/check/{id}: a job's progress and report.
  status,
  status_page,
};

struct route {
  route_kind kind = route_kind::health;
  std::string collection; ///< Validated collection name, where the route has one.
  std::string id;         ///< Validated document id (route_kind::document).
  std::string backend;    ///< Backend name (admin backend routes).
  uint64_t job = 0;       ///< Check job id (route_kind::admin_check_job).
};

/// The route's template, e.g. "/v1/collections/{name}": a closed set, used
/// as a metric label.
std::string_view template_of(route_kind kind);
/// The methods the route allows, for 405's Allow header ("GET, PUT").
std::string allowed_methods(route_kind kind);
/// The endpoint `method` selects on the route; nullopt if the route does
/// not allow it (405). The one table of methods per route.
std::optional<endpoint> endpoint_of(route_kind kind, std::string_view method);
/// True if the route allows `method` (endpoint_of has a value).
bool allows(route_kind kind, std::string_view method);
/// Routes anyone may call without a token (/v1/health shows states only then).
bool is_public(route_kind kind);
/// Routes that need the admin token when one is configured.
bool is_admin(route_kind kind);

/// The HTTP method as a metric label: one of a closed set, else "other".
std::string_view method_label(std::string_view method);

/// Parses the target's path (the query is ignored). nullopt: no such route
/// (404). Throws bad_request for bad percent-encoding and for names or ids
/// that break the rules of validate_collection_name / validate_id.
std::optional<route> parse_route(std::string_view target);

/// Whether a check asks for repair: `repair=true` (or 1, false, 0) in the
/// target's query, or {"repair": true|false} as the body (may be empty).
/// Throws bad_request for another value, key or body.
bool parse_check_repair(std::string_view target, std::string_view body);

/// Bodies; each throws bad_request for a malformed or invalid body.
/// PUT /v1/collections/{name}: {"dimension": n, "metric": "l2"|"ip"|"cosine"}
collection_spec parse_collection_body(std::string_view body, std::string name);
/// PUT /v1/collections/{name}/documents/{id}: {"vector": [...], "content", "metadata"}
document parse_document_body(std::string_view body, std::string id);
/// POST /v1/collections/{name}/documents: {"documents": [{"id", "vector", ...}]}
/// More than `max_batch` documents is a 413.
std::vector<document> parse_batch_body(std::string_view body, size_t max_batch);
/// POST /v1/collections/{name}/search: {"vector": [...], "k": n, "ef": n}
search_query parse_search_body(std::string_view body, std::string collection);

} // namespace lifeline::api
