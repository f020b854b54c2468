#include "api/status_reply.hpp"

#include <cmath>
#include <ctime>

namespace lifeline::api {

extern const char* const status_page_html; // generated from api/status_page.html

namespace {

/// A replicated database's primary and standbys (health). Host names only
/// for a token holder, as error texts.
void write_database(json_writer& w, const database_status& db, bool authenticated) {
  w.key("database").begin_object();
  if (authenticated) w.key("primary").value(db.primary);
  w.key("primary_reachable").value(db.primary_reachable).key("timeline").value(db.timeline);
  w.key("standbys").begin_array();
  for (size_t i = 0; i < db.standbys.size(); ++i) {
    auto& sb = db.standbys[i];
    w.begin_object()
      .key("name").value(authenticated ? sb.name : "standby-" + std::to_string(i + 1))
      .key("reachable").value(sb.reachable)
      .key("serving").value(sb.serving)
      .key("lag_bytes").number(sb.lag_bytes)
      .key("lag_seconds").number(sb.lag_seconds)
      .key("reads").number(sb.reads)
      .key("refused").number(sb.refused);
    if (authenticated && !sb.error.empty()) w.key("error").value(sb.error);
    w.end_object();
  }
  w.end_array().end_object();
}

/// A rate or an estimate, to a tenth: a JSON number (never inf or nan).
double tenth(double x) { return std::isfinite(x) ? std::round(x * 10) / 10 : 0; }

void write_series(json_writer& w, std::string_view key, const std::vector<double>& xs) {
  w.key(key).begin_array();
  for (auto x : xs) w.number(tenth(x));
  w.end_array();
}

} // namespace

std::string iso8601(int64_t unix_ms) {
  if (unix_ms == 0) return {};
  std::time_t t = unix_ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

size_t write_health(json_writer& w, const health_report& h, bool authenticated,
                    const std::function<std::string()>& cluster) {
  auto serving = h.serving();
  const char* status = serving == h.backends.size() ? "ok" : serving > 0 ? "degraded" : "unavailable";
  w.begin_object().key("status").value(status).key("backends").begin_array();
  for (auto& b : h.backends) {
    w.begin_object()
      .key("name").value(b.name)
      .key("kind").value(b.kind)
      .key("state").value(std::string{to_string(b.lifecycle)})
      .key("circuit").value(std::string{to_string(b.circuit)})
      .key("replica").value(std::string{to_string(b.replica)})
      .key("pending").number(b.pending)
      .key("rebuilt").number(b.rebuilt)
      .key("serving").value(b.serving);
    if (b.replica != replica_state::in_sync) {
      // How far its catch-up or rebuild is, and how long it may still take.
      w.key("progress").begin_object()
        .key("phase").value(std::string{to_string(b.replica)})
        .key("done").number(b.progress_done)
        .key("total").number(b.progress_total)
        .key("rate_per_s").number(tenth(b.progress_rate))
        .key("eta_s");
      if (b.progress_eta_s >= 0) w.number(tenth(b.progress_eta_s));
      else w.raw("null");
      w.end_object();
    }
    if (b.has_database) write_database(w, b.database, authenticated);
    // Error texts name hosts, users and paths: only for a token holder.
    if (authenticated) w.key("last_error").value(b.last_error);
    w.key("since").value(iso8601(b.since_unix_ms)).end_object();
  }
  w.end_array();
  if (cluster) w.key("cluster").raw(cluster());
  w.end_object();
  return serving;
}

response health_reply(const health_report& h, bool authenticated,
                      const std::function<std::string()>& cluster) {
  json_writer w;
  auto serving = write_health(w, h, authenticated, cluster);
  return json_reply(serving > 0 ? 200 : 503, w.take());
}

response status_reply(const health_report& h, bool authenticated,
                      const std::function<std::string()>& cluster, const activity_snapshot& recent) {
  json_writer w;
  w.begin_object().key("now").number(recent.now_ms).key("authenticated").value(authenticated)
    .key("health");
  write_health(w, h, authenticated, cluster);
  w.key("window_s").number(recent.window_s).key("backends").begin_object();
  for (auto& b : recent.backends) {
    w.key(b.name).begin_object();
    write_series(w, "rps", b.rps);
    write_series(w, "p99_ms", b.p99_ms);
    write_series(w, "errors", b.errors);
    w.end_object();
  }
  w.end_object();
  write_series(w, "fallbacks", recent.fallbacks);
  write_series(w, "hedges", recent.hedges);
  write_series(w, "outages", recent.outages);
  w.key("events").begin_array();
  for (auto& e : recent.events)
    w.begin_object()
      .key("t").number(e.t_ms)
      .key("kind").value(e.kind)
      .key("operation").value(e.operation)
      .key("from").value(e.from)
      .key("to").value(e.to)
      .key("reason").value(e.reason)
      .key("count").number(e.count)
      .end_object();
  w.end_array().end_object();
  auto r = json_reply(200, w.take());
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

response status_page_reply() {
  response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = status_page_html;
  r.headers.emplace_back("Cache-Control", "no-store");
  // Self-contained: nothing may be loaded from elsewhere, and the page is
  // not to be framed by another site.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src "
                         "'unsafe-inline'; connect-src 'self'; img-src data:; "
                         "frame-ancestors 'none'");
  return r;
}

} // namespace lifeline::api
