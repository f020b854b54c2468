#include "api/http_api.hpp"

#include "actors/errors.hpp"
#include "api/coordinator_client.hpp"
#include "api/json_writer.hpp"
#include "backends/validation.hpp"
#include "metrics/prometheus_metrics.hpp"

#include <caf/all.hpp>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <simdjson.h>

#include <cmath>
#include <ctime>

namespace lifeline::api {

namespace {

using clock_type = std::chrono::steady_clock;

// -- replies --------------------------------------------------------------------------

response json_reply(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response problem(unsigned status, std::string_view title, std::string_view detail) {
  json_writer w;
  w.begin_object()
    .key("type").value("about:blank")
    .key("title").value(title)
    .key("status").number(status)
    .key("detail").value(detail)
    .end_object();
  auto r = json_reply(status, w.take());
  r.content_type = "application/problem+json";
  return r;
}

struct error_reply {
  unsigned retry_after = 5;
  response operator()(const caf::error& err) const {
    if (auto outage = outage_of(err)) {
      json_writer w;
      w.begin_object()
        .key("type").value("about:blank")
        .key("title").value("All backends unavailable")
        .key("status").number(503)
        .key("detail").value("no backend can serve " + outage->operation)
        .key("backends").begin_array();
      for (size_t i = 0; i < outage->backends.size(); ++i)
        w.begin_object().key("name").value(outage->backends[i]).key("error").value(outage->reasons[i]).end_object();
      w.end_array().end_object();
      auto r = json_reply(503, w.take());
      r.content_type = "application/problem+json";
      r.headers.emplace_back("Retry-After", std::to_string(retry_after));
      return r;
    }
    auto detail = describe(err);
    if (is(err, errc::not_found)) return problem(404, "Not found", detail);
    if (is(err, errc::invalid_argument)) return problem(400, "Invalid argument", detail);
    if (is(err, errc::conflict)) return problem(409, "Conflict", detail);
    if (is(err, errc::unsupported)) return problem(501, "Not supported", detail);
    if (is(err, errc::timeout) || err == caf::sec::request_timeout)
      return problem(504, "Timeout", detail);
    if (is(err, errc::not_durable)) {
      auto r = problem(503, "Write not acknowledged", detail);
      r.headers.emplace_back("Retry-After", std::to_string(retry_after));
      return r;
    }
    auto r = problem(503, "Backend unavailable", detail);
    r.headers.emplace_back("Retry-After", std::to_string(retry_after));
    return r;
  }
};

// -- request parsing --------------------------------------------------------------------

/// Thrown for client mistakes; becomes a 400 (or the given status).
struct bad_request {
  unsigned status;
  std::string detail;
};

[[noreturn]] void fail(std::string detail, unsigned status = 400) {
  throw bad_request{status, std::move(detail)};
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto hex = [](char c) {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (i + 2 >= s.size()) fail("bad percent-encoding in the path");
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) fail("bad percent-encoding in the path");
    out += char(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::vector<std::string> path_segments(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  std::vector<std::string> out;
  size_t start = 1;
  if (path.empty() || path[0] != '/') fail("the path must start with /");
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.push_back(percent_decode(path.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

simdjson::dom::element parse_body(simdjson::dom::parser& parser, const std::string& body) {
  simdjson::dom::element root;
  if (auto err = parser.parse(body).get(root)) fail(std::string{"malformed JSON: "} + simdjson::error_message(err));
  if (!root.is_object()) fail("the body must be a JSON object");
  return root;
}

std::vector<float> parse_vector(simdjson::dom::element e, const char* field) {
  simdjson::dom::array a;
  if (e.get(a)) fail(std::string{field} + " must be an array of numbers");
  std::vector<float> v;
  v.reserve(a.size());
  for (auto x : a) {
    double d;
    if (x.get(d)) fail(std::string{field} + " must be an array of numbers");
    if (!std::isfinite(d) || std::fabs(d) > 3.4e38) fail(std::string{field} + " holds a number too large for a float");
    v.push_back(float(d));
  }
  return v;
}

uint64_t parse_uint(simdjson::dom::element e, const char* field, uint64_t max) {
  uint64_t n;
  if (e.get(n) || n > max) fail(std::string{field} + " must be an integer from 0 to " + std::to_string(max));
  return n;
}

/// Reads a document body: vector (required), content, metadata (optional).
document parse_document(simdjson::dom::object o, std::string id) {
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
    } else if (k != "id") {
      fail("unknown field '" + std::string{k} + "' in a document");
    }
  }
  if (!has_vector) fail("a document needs a vector");
  return d;
}

std::string iso8601(int64_t unix_ms) {
  if (unix_ms == 0) return {};
  std::time_t t = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_backends(json_writer& w, const write_receipt& r) {
  w.key("backends").begin_object();
  for (auto& b : r.backends)
    w.key(b.backend).value(std::string{to_string(b.outcome)});
  w.end_object();
}

std::string applied_by(const write_receipt& r) {
  std::string out;
  for (auto& b : r.backends)
    if (b.outcome == write_outcome::applied) out += (out.empty() ? "" : ", ") + b.backend;
  return out;
}

/// Closes `w` (an object with the reply's own fields) with the receipt's
/// per-backend outcomes; X-Served-By names the backends that applied it.
response write_reply(json_writer& w, const write_receipt& rc, unsigned status = 200) {
  write_backends(w, rc);
  w.end_object();
  auto resp = json_reply(status, w.take());
  resp.headers.emplace_back("X-Served-By", applied_by(rc));
  return resp;
}

/// A read's reply: `w` holds the whole body; X-Served-By names its backend.
response read_reply(json_writer& w, const std::string& backend) {
  auto resp = json_reply(200, w.take());
  resp.headers.emplace_back("X-Served-By", backend);
  return resp;
}

} // namespace

// -- the API ----------------------------------------------------------------------------------

struct http_api::impl {
  using reply_fn = http_api::reply_fn;
  coordinator_client& client;
  prometheus_metrics& metrics;
  api_config cfg;
  error_reply to_response;
  prometheus::Family<prometheus::Counter>* requests;
  prometheus::Family<prometheus::Histogram>* durations;

  impl(coordinator_client& c, prometheus_metrics& m, api_config conf)
    : client(c), metrics(m), cfg(std::move(conf)), to_response{cfg.retry_after_seconds} {
    requests = &prometheus::BuildCounter()
                  .Name("lifeline_http_requests_total")
                  .Help("HTTP requests by method, route and status code.")
                  .Register(metrics.registry());
    durations = &prometheus::BuildHistogram()
                   .Name("lifeline_http_request_duration_seconds")
                   .Help("HTTP request latency by route, from request read to reply ready.")
                   .Register(metrics.registry());
  }

  caf::duration timeout() const { return caf::duration{cfg.timeout}; }

  /// Sends one coordinator request; `ok` turns its reply into a response.
  template <class Reply, class... Ts>
  void ask(reply_fn done, std::function<response(Reply&)> ok, Ts... xs) {
    ask_within<Reply>(timeout(), std::move(done), std::move(ok), std::move(xs)...);
  }

  /// The same with its own deadline (for slow operator requests).
  template <class Reply, class... Ts>
  void ask_within(caf::duration t, reply_fn done, std::function<response(Reply&)> ok, Ts... xs) {
    client.submit([done = std::move(done), ok = std::move(ok), t, to = to_response,
                   xs...](caf::event_based_actor* self, const coordinator_actor& c) mutable {
      self->request(c, t, xs...).then(
        [done, ok](Reply& r) { done(ok(r)); },
        [done, to](caf::error& e) { done(to(e)); });
    });
  }

  bool authorized(const request& req) const {
    if (cfg.bearer_token.empty()) return true;
    std::string expected = "Bearer " + cfg.bearer_token;
    auto& got = req.authorization;
    // Constant time in the token: compare every byte, whatever differs.
    unsigned char diff = got.size() == expected.size() ? 0 : 1;
    for (size_t i = 0; i < expected.size(); ++i)
      diff |= static_cast<unsigned char>(expected[i] ^ (i < got.size() ? got[i] : 0));
    return diff == 0;
  }

  void route(const request& req, const std::string& name_of_route, reply_fn done);
};

http_api::http_api(coordinator_client& client, prometheus_metrics& metrics, api_config cfg)
  : impl_(std::make_unique<impl>(client, metrics, std::move(cfg))) {}

http_api::~http_api() = default;

void http_api::handle(request req, reply_fn done) {
  auto start = clock_type::now();
  std::string route_name = "unknown";
  auto* self = impl_.get();
  auto finish = [self, done = std::move(done), start, method = req.method](std::string route, response r) {
    self->requests->Add({{"method", method}, {"route", route}, {"status", std::to_string(r.status)}})
      .Increment();
    self->durations->Add({{"route", route}}, prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10})
      .Observe(std::chrono::duration<double>(clock_type::now() - start).count());
    done(std::move(r));
  };
  try {
    auto segments = path_segments(req.target);
    // Name the route by its template, for metrics.
    auto& s = segments;
    if (s.size() == 2 && s[0] == "v1" && s[1] == "health") route_name = "/v1/health";
    else if (s.size() == 1 && s[0] == "metrics") route_name = "/metrics";
    else if (s.size() == 2 && s[0] == "v1" && s[1] == "collections") route_name = "/v1/collections";
    else if (s.size() == 3 && s[0] == "v1" && s[1] == "collections") route_name = "/v1/collections/{name}";
    else if (s.size() == 4 && s[0] == "v1" && s[1] == "collections" && s[3] == "documents")
      route_name = "/v1/collections/{name}/documents";
    else if (s.size() == 4 && s[0] == "v1" && s[1] == "collections" && s[3] == "search")
      route_name = "/v1/collections/{name}/search";
    else if (s.size() == 5 && s[0] == "v1" && s[1] == "collections" && s[3] == "documents")
      route_name = "/v1/collections/{name}/documents/{id}";
    else if (s.size() == 3 && s[0] == "v1" && s[1] == "admin" && s[2] == "check")
      route_name = "/v1/admin/check";
    else if (s.size() == 5 && s[0] == "v1" && s[1] == "admin" && s[2] == "backends" && s[4] == "restart")
      route_name = "/v1/admin/backends/{name}/restart";
    else if (s.size() == 5 && s[0] == "v1" && s[1] == "admin" && s[2] == "backends" && s[4] == "stop")
      route_name = "/v1/admin/backends/{name}/stop";
    else if (s.size() == 5 && s[0] == "v1" && s[1] == "admin" && s[2] == "backends" && s[4] == "start")
      route_name = "/v1/admin/backends/{name}/start";
    else
      return finish("unknown", problem(404, "Not found", "no route for " + req.target.substr(0, 200)));
    if (route_name != "/v1/health" && route_name != "/metrics" && !impl_->authorized(req)) {
      auto r = problem(401, "Unauthorized", "a valid bearer token is required");
      r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return finish(route_name, std::move(r));
    }
    impl_->route(req, route_name, [finish, route_name](response r) mutable { finish(route_name, std::move(r)); });
  } catch (const bad_request& e) {
    finish(route_name, problem(e.status, e.status == 413 ? "Payload too large" : "Bad request", e.detail));
  } catch (const std::exception& e) {
    finish(route_name, problem(400, "Bad request", e.what()));
  }
}

void http_api::impl::route(const request& req, const std::string& r, reply_fn done) {
  thread_local simdjson::dom::parser parser;
  auto segments = path_segments(req.target);
  auto& m = req.method;
  auto not_allowed = [&](const char* allow) {
    auto resp = problem(405, "Method not allowed", m + " is not allowed on " + r);
    resp.headers.emplace_back("Allow", allow);
    done(std::move(resp));
  };
  if (r == "/v1/health") {
    if (m != "GET") return not_allowed("GET");
    return ask<health_report>(std::move(done), [](health_report& h) {
      auto serving = h.serving();
      const char* status = serving == h.backends.size() ? "ok" : serving > 0 ? "degraded" : "unavailable";
      json_writer w;
      w.begin_object().key("status").value(status).key("backends").begin_array();
      for (auto& b : h.backends)
        w.begin_object()
          .key("name").value(b.name)
          .key("kind").value(b.kind)
          .key("state").value(std::string{to_string(b.lifecycle)})
          .key("circuit").value(std::string{to_string(b.circuit)})
          .key("replica").value(std::string{to_string(b.replica)})
          .key("pending").number(b.pending)
          .key("rebuilt").number(b.rebuilt)
          .key("serving").value(b.serving)
          .key("last_error").value(b.last_error)
          .key("since").value(iso8601(b.since_unix_ms))
          .end_object();
      w.end_array().end_object();
      return json_reply(serving > 0 ? 200 : 503, w.take());
    }, health_atom::value);
  }
  if (r == "/metrics") {
    if (m != "GET") return not_allowed("GET");
    response resp;
    resp.content_type = "text/plain; version=0.0.4";
    resp.body = metrics.render();
    return done(std::move(resp));
  }
  if (r == "/v1/admin/check") {
    if (m != "GET") return not_allowed("GET");
    // Reads every id of every backend: give it longer than a request.
    return ask_within<consistency_report>(caf::duration{std::chrono::minutes(10)}, std::move(done), [](consistency_report& c) {
      json_writer w;
      w.begin_object().key("consistent").value(c.consistent()).key("backends").begin_array();
      for (auto& b : c.backends) w.value(b);
      w.end_array().key("not_compared").begin_array();
      for (auto& b : c.not_compared) w.value(b);
      w.end_array().key("error").value(c.error).key("collections").begin_array();
      for (auto& col : c.collections) {
        w.begin_object().key("name").value(col.collection).key("consistent").value(col.consistent())
          .key("counts").begin_object();
        for (size_t i = 0; i < col.counts.size() && i < c.backends.size(); ++i)
          w.key(c.backends[i]).number(col.counts[i]);
        w.end_object().key("missing").number(col.missing).key("mismatched").number(col.mismatched)
          .key("examples").begin_array();
        for (auto& e : col.examples) w.value(e);
        w.end_array().end_object();
      }
      w.end_array().end_object();
      return json_reply(c.error.empty() ? 200 : 503, w.take());
    }, check_atom::value);
  }
  if (r == "/v1/admin/backends/{name}/restart") {
    if (m != "POST") return not_allowed("POST");
    auto backend = segments[3];
    return ask<ok_atom>(std::move(done), [backend](ok_atom) {
      json_writer w;
      w.begin_object().key("restarting").value(backend).end_object();
      return json_reply(202, w.take());
    }, restart_atom::value, backend);
  }
  if (r == "/v1/admin/backends/{name}/stop" || r == "/v1/admin/backends/{name}/start") {
    if (m != "POST") return not_allowed("POST");
    auto backend = segments[3];
    bool stop = r == "/v1/admin/backends/{name}/stop";
    return ask<ok_atom>(std::move(done), [backend, stop](ok_atom) {
      json_writer w;
      w.begin_object().key(stop ? "stopping" : "starting").value(backend).end_object();
      return json_reply(202, w.take());
    }, hold_atom::value, backend, stop);
  }
  if (r == "/v1/collections") {
    if (m != "GET") return not_allowed("GET");
    return ask<served<std::vector<collection_spec>>>(std::move(done), [](served<std::vector<collection_spec>>& s) {
      json_writer w;
      w.begin_object().key("collections").begin_array();
      for (auto& c : s.value)
        w.begin_object().key("name").value(c.name).key("dimension").number(c.dimension)
          .key("metric").value(std::string{to_string(c.metric)}).end_object();
      w.end_array().end_object();
      return read_reply(w, s.backend);
    }, list_atom::value);
  }
  auto& name = segments[2];
  if (r == "/v1/collections/{name}") {
    if (m == "GET")
      return ask<served<collection_stats>>(std::move(done), [](served<collection_stats>& s) {
        json_writer w;
        w.begin_object().key("name").value(s.value.spec.name).key("dimension").number(s.value.spec.dimension)
          .key("metric").value(std::string{to_string(s.value.spec.metric)}).key("count").number(s.value.count)
          .end_object();
        return read_reply(w, s.backend);
      }, stats_atom::value, name);
    if (m == "DELETE")
      return ask<write_receipt>(std::move(done), [name](write_receipt& rc) {
        json_writer w;
        w.begin_object().key("name").value(name);
        return write_reply(w, rc);
      }, drop_atom::value, name);
    if (m != "PUT") return not_allowed("GET, PUT, DELETE");
    auto root = parse_body(parser, req.body);
    collection_spec spec;
    spec.name = name;
    bool has_dim = false;
    for (auto [k, v] : root.get_object()) {
      if (k == "dimension") {
        spec.dimension = uint32_t(parse_uint(v, "dimension", 65536));
        has_dim = true;
      } else if (k == "metric") {
        std::string_view s;
        if (v.get(s)) fail("metric must be one of l2, ip, cosine");
        auto parsed = parse_metric(s);
        if (!parsed) fail("metric must be one of l2, ip, cosine");
        spec.metric = *parsed;
      } else {
        fail("unknown field '" + std::string{k} + "'");
      }
    }
    if (!has_dim) fail("dimension is required");
    // 200 if it exists identically, 409 if differently, else create: 201.
    auto to = to_response;
    auto t = timeout();
    client.submit([done, spec, to, t](caf::event_based_actor* self, const coordinator_actor& c) {
      auto created = [done, spec, to](write_receipt& rc) {
        json_writer w;
        w.begin_object().key("name").value(spec.name).key("dimension").number(spec.dimension)
          .key("metric").value(std::string{to_string(spec.metric)});
        done(write_reply(w, rc, 201));
      };
      self->request(c, t, stats_atom::value, spec.name).then(
        [done, spec](served<collection_stats>& s) {
          if (!(s.value.spec == spec))
            return done(problem(409, "Conflict", "collection '" + spec.name + "' exists with another dimension or metric"));
          json_writer w;
          w.begin_object().key("name").value(spec.name).key("dimension").number(spec.dimension)
            .key("metric").value(std::string{to_string(spec.metric)}).key("count").number(s.value.count).end_object();
          done(read_reply(w, s.backend));
        },
        [self, c, t, spec, done, to, created](caf::error& e) {
          if (!is(e, errc::not_found)) return done(to(e));
          self->request(c, t, create_atom::value, spec).then(
            [created](write_receipt& rc) mutable { created(rc); },
            [done, to](caf::error& e2) { done(to(e2)); });
        });
    });
    return;
  }
  if (r == "/v1/collections/{name}/search") {
    if (m != "POST") return not_allowed("POST");
    auto root = parse_body(parser, req.body);
    search_query q;
    q.collection = name;
    bool has_vector = false;
    for (auto [k, v] : root.get_object()) {
      if (k == "vector") {
        q.vector = parse_vector(v, "vector");
        has_vector = true;
      } else if (k == "k") {
        q.k = uint32_t(parse_uint(v, "k", max_k));
      } else if (k == "ef") {
        q.ef = uint32_t(parse_uint(v, "ef", 100000));
      } else {
        fail("unknown field '" + std::string{k} + "'");
      }
    }
    if (!has_vector) fail("vector is required");
    if (q.k == 0) fail("k must be from 1 to " + std::to_string(max_k));
    return ask<served<std::vector<search_hit>>>(std::move(done), [](served<std::vector<search_hit>>& s) {
      json_writer w;
      w.begin_object().key("results").begin_array();
      for (auto& h : s.value)
        w.begin_object().key("id").value(h.id).key("distance").number(h.distance)
          .key("content").value(h.content).key("metadata").raw(h.metadata).end_object();
      w.end_array().end_object();
      return read_reply(w, s.backend);
    }, search_atom::value, q);
  }
  if (r == "/v1/collections/{name}/documents") {
    if (m != "POST") return not_allowed("POST");
    auto root = parse_body(parser, req.body);
    simdjson::dom::array docs;
    if (root["documents"].get(docs)) fail("documents must be an array");
    if (docs.size() > cfg.max_batch)
      fail("a batch holds at most " + std::to_string(cfg.max_batch) + " documents", 413);
    std::vector<document> batch;
    for (auto e : docs) {
      simdjson::dom::object o;
      if (e.get(o)) fail("each document must be an object");
      std::string_view id;
      if (o["id"].get(id)) fail("each document needs a string id");
      batch.push_back(parse_document(o, std::string{id}));
    }
    auto count = batch.size();
    return ask<write_receipt>(std::move(done), [count](write_receipt& rc) {
      json_writer w;
      w.begin_object().key("count").number(count).key("version").number(rc.version);
      return write_reply(w, rc);
    }, upsert_atom::value, name, std::move(batch));
  }
  // /v1/collections/{name}/documents/{id}
  auto& id = segments[4];
  if (m == "GET")
    return ask<served<document>>(std::move(done), [](served<document>& s) {
      json_writer w;
      w.begin_object().key("id").value(s.value.id).key("vector").floats(s.value.vector)
        .key("content").value(s.value.content).key("metadata").raw(s.value.metadata)
        .key("version").number(s.value.version).end_object();
      return read_reply(w, s.backend);
    }, get_atom::value, name, id);
  if (m == "DELETE")
    return ask<write_receipt>(std::move(done), [id](write_receipt& rc) {
      // Deleting what no backend holds is a 404 (its tombstone is kept all
      // the same, so an older write cannot bring it back).
      if (!rc.existed) return problem(404, "Not found", "document '" + id + "' does not exist");
      json_writer w;
      w.begin_object().key("id").value(id).key("version").number(rc.version);
      return write_reply(w, rc);
    }, remove_atom::value, name, id);
  if (m != "PUT") return not_allowed("GET, PUT, DELETE");
  auto root = parse_body(parser, req.body);
  auto d = parse_document(root.get_object(), id);
  return ask<write_receipt>(std::move(done), [id](write_receipt& rc) {
    json_writer w;
    w.begin_object().key("id").value(id).key("version").number(rc.version);
    return write_reply(w, rc);
  }, upsert_atom::value, name, std::vector<document>{std::move(d)});
}

} // namespace lifeline::api
