#include "api/request_parser.hpp"

#include "core/validation.hpp"

#include <simdjson.h>

#include <array>
#include <cmath>
#include <limits>

namespace lifeline::api {

namespace {

[[noreturn]] void fail(std::string detail, unsigned status = 400) {
  throw bad_request{status, std::move(detail)};
}

/// Throws the validation error of `ok` as a 400.
void check(const expected<void>& ok, std::string_view where) {
  if (!ok) fail(std::string{where} + ": " + ok.error().message);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) fail("bad percent-encoding in the path");
    int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) fail("bad percent-encoding in the path");
    out += char(hi * 16 + lo);
    i += 2;
  }
  return out;
}

/// The path's segments, percent-decoded; empty segments ("//") are skipped.
std::vector<std::string> path_segments(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  if (path.empty() || path[0] != '/') fail("the path must start with /");
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.push_back(percent_decode(path.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

std::string collection_name(std::string s) {
  check(validate_collection_name(s), "collection name");
  return s;
}

std::string document_id(std::string s) {
  check(validate_id(s), "document id");
  return s;
}

/// Backend names follow the collection-name rules (they are configured
/// names, but the path is the client's).
std::string backend_name(std::string s) {
  if (!validate_collection_name(s)) fail("backend name may only contain [A-Za-z0-9_.-]");
  return s;
}

simdjson::dom::object parse_object(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root))
    fail(std::string{"malformed JSON: "} + simdjson::error_message(err));
  simdjson::dom::object o;
  if (root.get(o)) fail("the body must be a JSON object");
  return o;
}

std::vector<float> parse_vector(simdjson::dom::element e, const char* field) {
  simdjson::dom::array a;
  if (e.get(a)) fail(std::string{field} + " must be an array of numbers");
  std::vector<float> v;
  v.reserve(a.size());
  for (auto x : a) {
    double d;
    if (x.get(d)) fail(std::string{field} + " must be an array of numbers");
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) fail(std::string{field} + " holds a number too large for a float");
    v.push_back(float(d));
  }
  return v;
}

uint64_t parse_uint(simdjson::dom::element e, const char* field, uint64_t min, uint64_t max) {
  uint64_t n;
  if (e.get(n) || n < min || n > max)
    fail(std::string{field} + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  return n;
}

/// A document object: vector (required), content, metadata (optional). In a
/// batch the caller reads "id"; on PUT (`id_from_path`) the path names the
/// document, and a body naming another is refused rather than stored under
/// the path's id.
document parse_document(simdjson::dom::object o, std::string id, bool id_from_path) {
  document d;
  d.id = std::move(id);
  bool has_vector = false;
  for (auto [k, v] : o) {
    if (k == "vector") {
      d.vector = parse_vector(v, "vector");
      has_vector = true;
    } else if (k == "content") {
      std::string_view s;
      if (v.get(s)) fail("content must be a string");
      d.content = std::string{s};
    } else if (k == "metadata") {
      if (v.is_null()) continue;
      if (!v.is_object()) fail("metadata must be a JSON object");
      d.metadata = simdjson::minify(v);
    } else if (k == "id") {
      std::string_view named;
      if (id_from_path && (v.get(named) || named != d.id))
        fail("the body's id differs from the path's ('" + d.id + "')");
    } else {
      fail("unknown field '" + std::string{k} + "' in a document");
    }
  }
  if (!has_vector) fail("a document needs a vector");
  return d;
}

/// The route templates, by route_kind.
constexpr std::array<std::string_view, 14> templates{{
  "/v1/health",
  "/metrics",
  "/v1/collections",
  "/v1/collections/{name}",
  "/v1/collections/{name}/documents",
  "/v1/collections/{name}/search",
  "/v1/collections/{name}/documents/{id}",
  "/v1/admin/check",
  "/v1/admin/backends/{name}/restart",
  "/v1/admin/backends/{name}/stop",
  "/v1/admin/backends/{name}/start",
  "/v1/admin/check/{id}",
  "/v1/status",
  "/",
}};

/// Every (route, method) the API serves and what it asks for; a method
/// not listed for a route is a 405. Allow headers are derived from it.
struct method_row {
  route_kind kind;
  std::string_view method;
  endpoint op;
};

constexpr std::array<method_row, 19> methods{{
  {route_kind::health, "GET", endpoint::health},
  {route_kind::metrics, "GET", endpoint::metrics},
  {route_kind::collections, "GET", endpoint::list_collections},
  {route_kind::collection, "GET", endpoint::get_collection},
  {route_kind::collection, "PUT", endpoint::create_collection},
  {route_kind::collection, "DELETE", endpoint::drop_collection},
  {route_kind::documents, "POST", endpoint::upsert_batch},
  {route_kind::search, "POST", endpoint::search},
  {route_kind::document, "GET", endpoint::get_document},
  {route_kind::document, "PUT", endpoint::put_document},
  {route_kind::document, "DELETE", endpoint::delete_document},
  {route_kind::admin_check, "GET", endpoint::admin_check},
  {route_kind::admin_check, "POST", endpoint::admin_check_start},
  {route_kind::admin_check_job, "GET", endpoint::admin_check_status},
  {route_kind::admin_restart, "POST", endpoint::admin_restart},
  {route_kind::admin_stop, "POST", endpoint::admin_stop},
  {route_kind::admin_start, "POST", endpoint::admin_start},
  {route_kind::status, "GET", endpoint::status},
  {route_kind::status_page, "GET", endpoint::status_page},
}};

} // namespace

std::string_view template_of(route_kind kind) { return templates[size_t(kind)]; }

std::string allowed_methods(route_kind kind) {
  std::string allow;
  for (auto& row : methods)
    if (row.kind == kind) allow += (allow.empty() ? "" : ", ") + std::string{row.method};
  return allow;
}

std::optional<endpoint> endpoint_of(route_kind kind, std::string_view method) {
  for (auto& row : methods)
    if (row.kind == kind && row.method == method) return row.op;
  return std::nullopt;
}

bool allows(route_kind kind, std::string_view method) { return endpoint_of(kind, method).has_value(); }

// The status page and its data are open like health: error texts (which
// name hosts and paths) only reach a token holder.
bool is_public(route_kind kind) {
  return kind == route_kind::health || kind == route_kind::metrics || kind == route_kind::status
         || kind == route_kind::status_page;
}

bool is_admin(route_kind kind) {
  return kind == route_kind::admin_check || kind == route_kind::admin_restart
         || kind == route_kind::admin_stop || kind == route_kind::admin_start
         || kind == route_kind::admin_check_job;
}

std::string_view method_label(std::string_view method) {
  for (std::string_view known : {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"})
    if (method == known) return known;
  return "other";
}

std::optional<route> parse_route(std::string_view target) {
  route r;
  if (target.substr(0, target.find('?')) == "/") {
    r.kind = route_kind::status_page;
    return r;
  }
  auto s = path_segments(target);
  auto n = s.size();
  if (n == 1 && s[0] == "metrics") {
    r.kind = route_kind::metrics;
    return r;
  }
  if (n < 2 || s[0] != "v1") return std::nullopt;
  if (s[1] == "health" && n == 2) {
    r.kind = route_kind::health;
    return r;
  }
  if (s[1] == "status" && n == 2) {
    r.kind = route_kind::status;
    return r;
  }
  if (s[1] == "collections") {
    if (n == 2) {
      r.kind = route_kind::collections;
      return r;
    }
    if (n == 3) r.kind = route_kind::collection;
    else if (n == 4 && s[3] == "documents") r.kind = route_kind::documents;
    else if (n == 4 && s[3] == "search") r.kind = route_kind::search;
    else if (n == 5 && s[3] == "documents") r.kind = route_kind::document;
    else return std::nullopt;
    r.collection = collection_name(std::move(s[2]));
    if (r.kind == route_kind::document) r.id = document_id(std::move(s[4]));
    return r;
  }
  if (s[1] == "admin") {
    if (n == 3 && s[2] == "check") {
      r.kind = route_kind::admin_check;
      return r;
    }
    if (n == 4 && s[2] == "check") {
      // Job ids are decimal numbers; anything else names no job (404).
      auto& id = s[3];
      if (id.empty() || id.size() > 19 || id.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
      r.kind = route_kind::admin_check_job;
      r.job = std::stoull(id);
      return r;
    }
    if (n != 5 || s[2] != "backends") return std::nullopt;
    if (s[4] == "restart") r.kind = route_kind::admin_restart;
    else if (s[4] == "stop") r.kind = route_kind::admin_stop;
    else if (s[4] == "start") r.kind = route_kind::admin_start;
    else return std::nullopt;
    r.backend = backend_name(std::move(s[3]));
    return r;
  }
  return std::nullopt;
}

bool parse_check_repair(std::string_view target, std::string_view body) {
  auto value = [](std::string_view v) {
    if (v == "true" || v == "1") return true;
    if (v == "false" || v == "0") return false;
    fail("repair must be true or false");
    return false;
  };
  bool repair = false;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    auto query = target.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      auto pair = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
      if (pair.empty()) continue;
      auto eq = pair.find('=');
      auto key = pair.substr(0, eq);
      if (key != "repair") fail("unknown query parameter '" + std::string{key.substr(0, 64)} + "'");
      repair = eq == std::string_view::npos ? true : value(pair.substr(eq + 1));
    }
  }
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return repair;
  for (auto [k, v] : parse_object(body)) {
    if (k != "repair") fail("unknown field '" + std::string{k} + "'");
    bool b = false;
    if (v.get(b)) fail("repair must be true or false");
    repair = b;
  }
  return repair;
}

collection_spec parse_collection_body(std::string_view body, std::string name) {
  collection_spec spec;
  spec.name = std::move(name);
  bool has_dim = false;
  for (auto [k, v] : parse_object(body)) {
    if (k == "dimension") {
      spec.dimension = uint32_t(parse_uint(v, "dimension", 1, max_dimension));
      has_dim = true;
    } else if (k == "metric") {
      std::string_view s;
      std::optional<metric> parsed;
      if (!v.get(s)) parsed = parse_metric(s);
      if (!parsed) fail("metric must be one of l2, ip, cosine");
      spec.metric = *parsed;
    } else {
      fail("unknown field '" + std::string{k} + "'");
    }
  }
  if (!has_dim) fail("dimension is required");
  check(validate_spec(spec), "collection");
  return spec;
}

document parse_document_body(std::string_view body, std::string id) {
  return parse_document(parse_object(body), std::move(id), true);
}

std::vector<document> parse_batch_body(std::string_view body, size_t max_batch) {
  auto root = parse_object(body);
  for (auto field : root)
    if (field.key != "documents") fail("unknown field '" + std::string{field.key} + "'");
  simdjson::dom::array docs;
  if (root["documents"].get(docs)) fail("documents must be an array");
  if (docs.size() > max_batch)
    fail("a batch holds at most " + std::to_string(max_batch) + " documents", 413);
  std::vector<document> batch;
  batch.reserve(docs.size());
  for (auto e : docs) {
    simdjson::dom::object o;
    if (e.get(o)) fail("each document must be an object");
    std::string_view id;
    if (o["id"].get(id)) fail("each document needs a string id");
    batch.push_back(parse_document(o, document_id(std::string{id}), false));
  }
  return batch;
}

search_query parse_search_body(std::string_view body, std::string collection) {
  search_query q;
  q.collection = std::move(collection);
  bool has_vector = false;
  for (auto [k, v] : parse_object(body)) {
    if (k == "vector") {
      q.vector = parse_vector(v, "vector");
      has_vector = true;
    } else if (k == "k") {
      q.k = uint32_t(parse_uint(v, "k", 1, max_k));
    } else if (k == "ef") {
      q.ef = uint32_t(parse_uint(v, "ef", 0, max_ef));
    } else {
      fail("unknown field '" + std::string{k} + "'");
    }
  }
  if (!has_vector) fail("vector is required");
  return q;
}

} // namespace lifeline::api
