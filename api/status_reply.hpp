// The bodies of GET /v1/health, GET /v1/status and GET / (the status page):
// what the coordinator reports about its backends, and what the metrics
// sink saw in the last minutes, as JSON; the page itself is static (it
// reads /v1/status every second).
#pragma once

#include "actors/actors.hpp"
#include "api/http_api.hpp"
#include "api/json_writer.hpp"
#include "metrics/recent_activity.hpp"

#include <functional>
#include <string>

namespace lifeline::api {

/// "2026-12-01T17:00:00Z" ("" for 0).
std::string iso8601(int64_t unix_ms);

/// The health object: status, backends, cluster. `authenticated`: error
/// texts and host names are included. Returns how many backends serve.
size_t write_health(json_writer& w, const health_report& h, bool authenticated,
                    const std::function<std::string()>& cluster);

/// GET /v1/health: 200, or 503 when no backend serves.
response health_reply(const health_report& h, bool authenticated,
                      const std::function<std::string()>& cluster);

/// GET /v1/status: always 200 (the page shows an outage, it is not one).
response status_reply(const health_report& h, bool authenticated,
                      const std::function<std::string()>& cluster, const activity_snapshot& recent);

/// GET /: the status page (self-contained HTML: inline CSS and script).
response status_page_reply();

} // namespace lifeline::api
