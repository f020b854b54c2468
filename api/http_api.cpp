#include "api/http_api.hpp"

#include "actors/errors.hpp"
#include "api/coordinator_client.hpp"
#include "actors/direct_reads.hpp"
#include "api/json_writer.hpp"
#include "api/request_parser.hpp"
#include "api/status_reply.hpp"
#include "api/vector_json_cache.hpp"
#include "core/validation.hpp"
#include "metrics/prometheus_metrics.hpp"

#include <caf/all.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <cmath>
#include <ctime>

namespace lifeline::api {

namespace {

using clock_type = std::chrono::steady_clock;

// -- replies --------------------------------------------------------------------------

response with_retry_after(response r, unsigned seconds) {
  r.headers.emplace_back("Retry-After", std::to_string(seconds));
  return r;
}

struct error_reply {
  unsigned retry_after = 5;
  unsigned shed_retry_after = 1;
  response operator()(const caf::error& err) const {
    if (auto outage = outage_of(err)) {
      return with_retry_after(
        problem(503, "All backends unavailable", "no backend can serve " + outage->operation,
                [&](json_writer& w) {
                  w.key("backends").begin_array();
                  for (size_t i = 0; i < outage->backends.size(); ++i)
                    w.begin_object().key("name").value(outage->backends[i])
                      .key("error").value(outage->reasons[i]).end_object();
                  w.end_array();
                }),
        retry_after);
    }
    auto detail = describe(err);
    if (is(err, errc::not_found)) return problem(404, "Not found", detail);
    if (is(err, errc::invalid_argument)) return problem(400, "Invalid argument", detail);
    if (is(err, errc::conflict)) return problem(409, "Conflict", detail);
    if (is(err, errc::unsupported)) return problem(501, "Not supported", detail);
    if (is(err, errc::timeout) || err == caf::sec::request_timeout)
      return problem(504, "Timeout", detail);
    if (is(err, errc::overloaded)) return with_retry_after(problem(503, "Overloaded", detail), shed_retry_after);
    // Retrying will not help: the stored document itself is damaged.
    if (is(err, errc::corrupt_document)) return problem(500, "Damaged document", detail);
    if (is(err, errc::not_durable))
      return with_retry_after(problem(503, "Write not acknowledged", detail), retry_after);
    return with_retry_after(problem(503, "Backend unavailable", detail), retry_after);
  }
};

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

/// GET of one document: the vector's text comes from the vector cache
/// (api/vector_json_cache.hpp), the rest is written here.
response document_reply(const std::string& collection, const document& d, const std::string& backend) {
  json_writer w;
  w.reserve_more(96 + d.id.size() + d.content.size() + d.metadata.size() + d.vector.size() * 12);
  w.begin_object().key("id").value(d.id).key("vector");
  write_vector(w, collection, d);
  w.key("content").value(d.content).key("metadata").raw(d.metadata)
    .key("version").number(d.version).end_object();
  return read_reply(w, backend);
}

response search_reply(const std::vector<search_hit>& hits, const std::string& backend) {
  size_t size = 32;
  for (auto& h : hits) size += 64 + h.id.size() + h.content.size() + h.metadata.size();
  json_writer w;
  w.reserve_more(size);
  w.begin_object().key("results").begin_array();
  for (auto& h : hits)
    w.begin_object().key("id").value(h.id).key("distance").number(h.distance)
      .key("content").value(h.content).key("metadata").raw(h.metadata).end_object();
  w.end_array().end_object();
  return read_reply(w, backend);
}

namespace {

void write_report(json_writer& w, const consistency_report& c) {
  w.key("consistent").value(c.consistent()).key("differences").number(c.differences())
    .key("repaired").number(c.repaired()).key("backends").begin_array();
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
      .key("repaired").number(col.repaired).key("examples").begin_array();
    for (auto& e : col.examples) w.value(e);
    w.end_array().end_object();
  }
  w.end_array();
}

/// A finished check's report, as GET /v1/admin/check has always answered
/// (plus the job's id).
response report_reply(const consistency_report& c, uint64_t id) {
  json_writer w;
  w.begin_object().key("id").number(id);
  write_report(w, c);
  w.end_object();
  return json_reply(c.error.empty() ? 200 : 503, w.take());
}

std::string status_path(uint64_t id) { return "/v1/admin/check/" + std::to_string(id); }

/// 202: the job runs; poll its status URL.
response job_started(uint64_t id) {
  json_writer w;
  w.begin_object().key("id").number(id).key("status").value(status_path(id)).end_object();
  auto r = json_reply(202, w.take());
  r.headers.emplace_back("Location", status_path(id));
  return r;
}

void write_status(json_writer& w, const check_status& s) {
  auto& p = s.progress;
  w.begin_object().key("id").number(s.id).key("repair").value(s.repair)
    .key("trigger").value(s.background ? "background" : "request")
    .key("state").value(s.done ? "done" : "running")
    .key("started").value(iso8601(s.started_unix_ms));
  if (s.done) w.key("finished").value(iso8601(s.finished_unix_ms));
  w.key("progress").begin_object()
    .key("collections_done").number(p.collections_done)
    .key("collections_total").number(p.collections_total)
    .key("ranges_compared").number(p.ranges)
    .key("ids_compared").number(p.ids)
    .key("differences").number(p.differences)
    .key("repaired").number(p.repaired)
    .end_object();
  if (s.done) {
    w.key("report").begin_object();
    write_report(w, s.report);
    w.end_object();
  }
  w.end_object();
}

} // namespace

response json_reply(unsigned status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response problem(unsigned status, std::string_view title, std::string_view detail,
                 const std::function<void(json_writer&)>& members) {
  json_writer w;
  w.begin_object()
    .key("type").value("about:blank")
    .key("title").value(title)
    .key("status").number(status)
    .key("detail").value(detail);
  if (members) members(w);
  w.end_object();
  auto r = json_reply(status, w.take());
  r.content_type = "application/problem+json";
  return r;
}

// -- the API ----------------------------------------------------------------------------------

struct http_api::impl : std::enable_shared_from_this<http_api::impl> {
  using reply_fn = http_api::reply_fn;
  coordinator_client& client;
  direct_reads* reads = nullptr; ///< Gets and searches, when set.
  prometheus_metrics& metrics;
  api_config cfg;
  error_reply to_response;
  prometheus::Family<prometheus::Counter>* requests;
  prometheus::Family<prometheus::Histogram>* durations;
  prometheus::Counter* shed;
  prometheus::Gauge* in_flight_gauge;
  std::atomic<uint32_t> in_flight{0};

  impl(coordinator_client& c, prometheus_metrics& m, api_config conf)
    : client(c), metrics(m), cfg(std::move(conf)), to_response{cfg.retry_after_seconds, cfg.shed_retry_after_seconds} {
    shared_vector_cache().set_max_bytes(cfg.vector_cache_bytes);
    requests = &prometheus::BuildCounter()
                  .Name("lifeline_http_requests_total")
                  .Help("HTTP requests by method, route and status code.")
                  .Register(metrics.registry());
    durations = &prometheus::BuildHistogram()
                   .Name("lifeline_http_request_duration_seconds")
                   .Help("HTTP request latency by route, from request read to reply ready.")
                   .Register(metrics.registry());
    shed = &prometheus::BuildCounter()
              .Name("lifeline_http_shed_total")
              .Help("Requests refused from their headers because the server was at max_in_flight.")
              .Register(metrics.registry())
              .Add({});
    in_flight_gauge = &prometheus::BuildGauge()
                         .Name("lifeline_http_in_flight")
                         .Help("HTTP requests admitted and not yet answered (bounded by max_in_flight).")
                         .Register(metrics.registry())
                         .Add({});
  }

  caf::duration timeout() const { return caf::duration{cfg.timeout}; }

  /// Sends one coordinator request; `ok` turns its reply into a response.
  template <class Reply, class... Ts>
  void ask(reply_fn done, std::function<response(Reply&)> ok, Ts... xs) {
    ask_within<Reply>(timeout(), std::move(done), std::move(ok), std::move(xs)...);
  }

  /// The same with its own deadline (for slow operator requests). The
  /// arguments are moved all the way into the message (a batch is never
  /// copied on its way to the coordinator): the job runs once.
  template <class Reply, class... Ts>
  void ask_within(caf::duration t, reply_fn done, std::function<response(Reply&)> ok, Ts... xs) {
    client.submit([done = std::move(done), ok = std::move(ok), t, to = to_response,
                   args = std::make_tuple(std::move(xs)...)](caf::event_based_actor* self,
                                                            const coordinator_actor& c) mutable {
      std::apply([&](auto&... x) { return self->request(c, t, std::move(x)...); }, args)
        .then([done, ok](Reply& r) { done(ok(r)); },
              [done, to](caf::error& e) { done(to(e)); });
    });
  }

  /// The callback of a direct get or search (actors/direct_reads.hpp).
  template <class T>
  static direct_reads::reply<T> direct_reply(reply_fn done, std::function<response(served<T>&)> ok,
                                             error_reply to) {
    return [done = std::move(done), ok = std::move(ok), to](caf::expected<served<T>> r) {
      if (r) done(ok(*r));
      else done(to(r.error()));
    };
  }

  /// Constant time in the token: compares every byte, whatever differs.
  static bool token_matches(const std::string& got, const std::string& token) {
    if (token.empty()) return false;
    std::string expected = "Bearer " + token;
    unsigned char diff = got.size() == expected.size() ? 0 : 1;
    for (size_t i = 0; i < expected.size(); ++i)
      diff |= static_cast<unsigned char>(expected[i] ^ (i < got.size() ? got[i] : 0));
    return diff == 0;
  }

  /// A non-admin route: open without a bearer token; else that token or
  /// the admin token.
  bool user(const request& req) const {
    if (cfg.bearer_token.empty()) return true;
    return token_matches(req.authorization, cfg.bearer_token)
           || token_matches(req.authorization, cfg.admin_token);
  }

  /// Admin routes need the admin token if there is one, else what the other
  /// routes need.
  bool authorized(const request& req, route_kind k) const {
    if (is_admin(k) && !cfg.admin_token.empty()) return token_matches(req.authorization, cfg.admin_token);
    return user(req);
  }

  /// Whether error texts may be shown (health): no token is configured at
  /// all, or the request carries a valid one.
  bool trusted(const request& req) const {
    if (cfg.bearer_token.empty() && cfg.admin_token.empty()) return true;
    return token_matches(req.authorization, cfg.bearer_token)
           || token_matches(req.authorization, cfg.admin_token);
  }

  /// The metric series of (method, route, status), found once: Family::Add
  /// builds a label map, hashes it and takes the family's lock on every
  /// call. Keys are the addresses of method_label()'s and template_of()'s
  /// static strings, so a lookup hashes three words.
  struct series_key {
    const char* method;
    const char* route;
    unsigned status;
    bool operator==(const series_key&) const = default;
  };
  struct series_hash {
    size_t operator()(const series_key& k) const {
      return std::hash<const void*>{}(k.method) ^ (std::hash<const void*>{}(k.route) * 31) ^ (k.status * 131);
    }
  };
  struct series {
    prometheus::Counter* requests;
    prometheus::Histogram* duration;
  };
  std::mutex series_mutex;
  std::unordered_map<series_key, series, series_hash> series_cache;

  series& series_for(std::string_view method, std::string_view route, unsigned status) {
    auto label = method_label(method);
    series_key key{label.data(), route.data(), status};
    std::lock_guard g{series_mutex};
    if (auto it = series_cache.find(key); it != series_cache.end()) return it->second;
    auto& c = requests->Add({{"method", std::string{label}}, {"route", std::string{route}},
                             {"status", std::to_string(status)}});
    auto& h = durations->Add({{"route", std::string{route}}}, prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    return series_cache.emplace(key, series{&c, &h}).first->second;
  }

  void record(std::string_view method, std::string_view route, unsigned status,
              clock_type::time_point start) {
    auto& s = series_for(method, route, status);
    s.requests->Increment();
    s.duration->Observe(std::chrono::duration<double>(clock_type::now() - start).count());
  }

  screened screen(const request& head);
  void dispatch(endpoint op, api::route& target, bool authenticated, const std::string& raw_target,
                std::string& body, const reply_fn& done);
  /// GET /v1/admin/check: starts a job and waits for it up to check_wait.
  void check_and_wait(bool repair, const reply_fn& done);
};

http_api::http_api(coordinator_client& client, prometheus_metrics& metrics, api_config cfg,
                   direct_reads* reads)
  : impl_(std::make_shared<impl>(client, metrics, std::move(cfg))) {
  impl_->reads = reads;
}

http_api::~http_api() = default;

uint32_t http_api::in_flight() const { return impl_->in_flight.load(std::memory_order_relaxed); }

screened http_api::screen(const request& head) { return impl_->screen(head); }

screened http_api::impl::screen(const request& head) {
  screened s;
  s.start = clock_type::now();
  try {
    s.target = parse_route(head.target);
  } catch (const bad_request& e) {
    s.refusal = problem(e.status, "Bad request", e.detail);
    return s;
  }
  if (!s.target) {
    s.refusal = problem(404, "Not found", "no route for " + head.target.substr(0, 200));
    return s;
  }
  auto kind = s.target->kind;
  auto op = endpoint_of(kind, head.method);
  if (!op) {
    auto r = problem(405, "Method not allowed",
                     std::string{method_label(head.method)} + " is not allowed on " + std::string{template_of(kind)});
    r.headers.emplace_back("Allow", allowed_methods(kind));
    s.refusal = std::move(r);
    return s;
  }
  s.op = *op;
  if (!is_public(kind) && !authorized(head, kind)) {
    auto r = problem(401, "Unauthorized",
                     is_admin(kind) && !cfg.admin_token.empty() ? "the admin token is required"
                                                                : "a valid bearer token is required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    s.refusal = std::move(r);
    return s;
  }
  s.authenticated = trusted(head);
  // /metrics and the status page are served without the backends: always
  // served, so an operator can watch an overload.
  if (s.op == endpoint::metrics || s.op == endpoint::status_page) return s;
  auto n = in_flight.fetch_add(1, std::memory_order_relaxed) + 1;
  in_flight_gauge->Increment();
  // The slot may outlive the http_api object (a reply callback of a request
  // still running when the server stopped): it keeps what it uses.
  s.slot = std::make_shared<in_flight_slot>([self = shared_from_this()] {
    self->in_flight.fetch_sub(1, std::memory_order_relaxed);
    self->in_flight_gauge->Decrement();
  });
  if (cfg.max_in_flight > 0 && n > cfg.max_in_flight) {
    s.slot.reset();
    shed->Increment();
    s.refusal = with_retry_after(problem(503, "Overloaded",
                                         "the server is at its limit of " + std::to_string(cfg.max_in_flight)
                                           + " requests in flight; retry later"),
                                 cfg.shed_retry_after_seconds);
  }
  return s;
}

void http_api::serve(screened s, request req, reply_fn done) {
  // The reply callback holds the API's state, not a pointer to it: a copy
  // may run, or be destroyed, after the http_api object is gone (a request
  // still running in the backends when the server stopped).
  auto self = impl_;
  std::string_view route = s.target ? template_of(s.target->kind) : std::string_view{"unknown"};
  // Copies of the reply function live on in the coordinator request's
  // handlers after it ran: the place is held through one shared holder,
  // freed when the reply is ready, not when the last copy goes.
  auto place = std::make_shared<std::shared_ptr<in_flight_slot>>(std::move(s.slot));
  auto finish = [self, done = std::move(done), start = s.start, method = req.method, route,
                 place](response r) {
    self->record(method, route, r.status, start);
    place->reset();
    done(std::move(r));
  };
  reply_fn reply = std::move(finish);
  if (s.refusal) return reply(std::move(*s.refusal));
  try {
    self->dispatch(s.op, *s.target, s.authenticated, req.target, req.body, reply);
  } catch (const bad_request& e) {
    // dispatch() throws only while it parses a body, before it hands
    // `reply` on.
    reply(problem(e.status, e.status == 413 ? "Payload too large" : "Bad request", e.detail));
  }
}

void http_api::handle(request req, reply_fn done) {
  auto s = screen(req);
  serve(std::move(s), std::move(req), std::move(done));
}

/// The one dispatch: each endpoint parses its body (if any), asks the
/// coordinator once and turns the reply into HTTP.
void http_api::impl::dispatch(endpoint op, api::route& target, bool authenticated,
                              const std::string& raw_target, std::string& body, const reply_fn& done) {
  auto& name = target.collection;
  auto& id = target.id;
  switch (op) {
    case endpoint::health:
      return ask<health_report>(done, [authenticated, cluster = cfg.cluster_health](health_report& h) {
        return health_reply(h, authenticated, cluster);
      }, health_atom::value);
    case endpoint::status:
      return ask<health_report>(done, [authenticated, cluster = cfg.cluster_health,
                                       recent = metrics.recent().snapshot()](health_report& h) {
        return status_reply(h, authenticated, cluster, recent);
      }, health_atom::value);
    case endpoint::status_page:
      return done(status_page_reply());
    case endpoint::metrics: {
      response resp;
      resp.content_type = "text/plain; version=0.0.4";
      resp.body = metrics.render();
      return done(std::move(resp));
    }
    case endpoint::admin_check:
      return check_and_wait(parse_check_repair(raw_target, body), done);
    case endpoint::admin_check_start:
      return ask<uint64_t>(done, [](uint64_t id) { return job_started(id); }, check_atom::value,
                           parse_check_repair(raw_target, body));
    case endpoint::admin_check_status:
      return ask<check_status>(done, [](check_status& s) {
        json_writer w;
        write_status(w, s);
        return json_reply(200, w.take());
      }, status_atom::value, target.job);
    case endpoint::admin_restart:
      return ask<ok_atom>(done, [backend = target.backend](ok_atom) {
        json_writer w;
        w.begin_object().key("restarting").value(backend).end_object();
        return json_reply(202, w.take());
      }, restart_atom::value, target.backend);
    case endpoint::admin_stop:
    case endpoint::admin_start: {
      bool stop = op == endpoint::admin_stop;
      return ask<ok_atom>(done, [backend = target.backend, stop](ok_atom) {
        json_writer w;
        w.begin_object().key(stop ? "stopping" : "starting").value(backend).end_object();
        return json_reply(202, w.take());
      }, hold_atom::value, target.backend, stop);
    }
    case endpoint::list_collections:
      return ask<served<std::vector<collection_spec>>>(done, [](served<std::vector<collection_spec>>& s) {
        json_writer w;
        w.begin_object().key("collections").begin_array();
        for (auto& c : s.value)
          w.begin_object().key("name").value(c.name).key("dimension").number(c.dimension)
            .key("metric").value(std::string{to_string(c.metric)}).end_object();
        w.end_array().end_object();
        return read_reply(w, s.backend);
      }, list_atom::value);
    case endpoint::get_collection:
      return ask<served<collection_stats>>(done, [](served<collection_stats>& s) {
        json_writer w;
        w.begin_object().key("name").value(s.value.spec.name).key("dimension").number(s.value.spec.dimension)
          .key("metric").value(std::string{to_string(s.value.spec.metric)}).key("count").number(s.value.count)
          .end_object();
        return read_reply(w, s.backend);
      }, stats_atom::value, std::move(name));
    case endpoint::create_collection: {
      // One create: the backends tell created (201) from an identical one
      // already there (200); another spec is their conflict (409).
      auto spec = parse_collection_body(body, std::move(name));
      std::function<response(write_receipt&)> created = [shown = spec](write_receipt& rc) {
        json_writer w;
        w.begin_object().key("name").value(shown.name).key("dimension").number(shown.dimension)
          .key("metric").value(std::string{to_string(shown.metric)});
        return write_reply(w, rc, rc.created() ? 201 : 200);
      };
      return ask<write_receipt>(done, std::move(created), create_atom::value, std::move(spec));
    }
    case endpoint::drop_collection:
      return ask<write_receipt>(done, [name](write_receipt& rc) {
        json_writer w;
        w.begin_object().key("name").value(name);
        return write_reply(w, rc);
      }, drop_atom::value, name);
    case endpoint::search: {
      std::function<response(served<std::vector<search_hit>>&)> ok =
        [](served<std::vector<search_hit>>& s) { return search_reply(s.value, s.backend); };
      auto q = parse_search_body(body, std::move(name));
      // Directly from the coordinator's routing snapshot when there is one.
      if (reads) return reads->search(std::move(q), direct_reply(done, std::move(ok), to_response));
      return ask<served<std::vector<search_hit>>>(done, std::move(ok), search_atom::value, std::move(q));
    }
    case endpoint::upsert_batch: {
      auto batch = parse_batch_body(body, cfg.max_batch);
      auto count = batch.size();
      return ask<write_receipt>(done, [count](write_receipt& rc) {
        json_writer w;
        w.begin_object().key("count").number(count).key("version").number(rc.version);
        return write_reply(w, rc);
      }, upsert_atom::value, std::move(name), std::move(batch));
    }
    case endpoint::get_document: {
      std::function<response(served<document>&)> ok = [collection = name](served<document>& s) {
        return document_reply(collection, s.value, s.backend);
      };
      if (reads) return reads->get(std::move(name), std::move(id), direct_reply(done, std::move(ok), to_response));
      return ask<served<document>>(done, std::move(ok), get_atom::value, std::move(name), std::move(id));
    }
    case endpoint::put_document: {
      std::vector<document> one;
      one.push_back(parse_document_body(body, id));
      return ask<write_receipt>(done, [id](write_receipt& rc) {
        json_writer w;
        w.begin_object().key("id").value(id).key("version").number(rc.version);
        return write_reply(w, rc);
      }, upsert_atom::value, std::move(name), std::move(one));
    }
    case endpoint::delete_document:
      return ask<write_receipt>(done, [id](write_receipt& rc) {
        // Deleting what no backend holds is a 404 (its tombstone is kept all
        // the same, so an older write cannot bring it back).
        if (!rc.deleted()) return problem(404, "Not found", "document '" + id + "' does not exist");
        json_writer w;
        w.begin_object().key("id").value(id).key("version").number(rc.version);
        return write_reply(w, rc);
      }, remove_atom::value, std::move(name), id);
  }
  done(problem(500, "Internal error", "unknown endpoint"));
}

void http_api::impl::check_and_wait(bool repair, const reply_fn& done) {
  // The job runs in the coordinator whatever happens here: if it is not
  // done within check_wait, the client gets its status URL instead of a
  // connection cut by a timeout.
  client.submit([done, repair, to = to_response, t = caf::duration{cfg.timeout},
                 wait = caf::duration{cfg.check_wait}](caf::event_based_actor* self,
                                                       const coordinator_actor& c) {
    self->request(c, t, check_atom::value, repair)
      .then(
        [self, c, done, to, wait](uint64_t id) {
          self->request(c, wait, ready_atom::value, id)
            .then([done](check_status& s) { done(report_reply(s.report, s.id)); },
                  [done, to, id](caf::error& e) {
                    if (e == caf::sec::request_timeout) return done(job_started(id));
                    done(to(e));
                  });
        },
        [done, to](caf::error& e) { done(to(e)); });
  });
}

} // namespace lifeline::api
