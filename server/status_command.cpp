#include "server/status_command.hpp"

#include "api/http_client.hpp"
#include "server/token_file.hpp"

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <ctime>
#include <iostream>
#include <sstream>
#include <thread>
#include <unistd.h>
#include <vector>

namespace lifeline::server {

namespace {

std::atomic<bool> interrupted{false};

/// Colours only on a terminal (and not with NO_COLOR set).
struct palette {
  bool on = false;
  std::string paint(std::string_view text, const char* code) const {
    if (!on) return std::string{text};
    return std::string{"\x1b["} + code + "m" + std::string{text} + "\x1b[0m";
  }
  std::string good(std::string_view t) const { return paint(t, "32"); }
  std::string warn(std::string_view t) const { return paint(t, "33"); }
  std::string bad(std::string_view t) const { return paint(t, "1;31"); }
  std::string dim(std::string_view t) const { return paint(t, "2"); }
};

std::string_view str(simdjson::dom::element e, const char* key) {
  std::string_view s;
  if (e[key].get(s)) return {};
  return s;
}

/// Text from the server, safe for a terminal: control characters (line
/// breaks, escape sequences) become spaces.
std::string clean(std::string_view text) {
  std::string out{text};
  for (auto& ch : out) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) ch = ' ';
  }
  // C1 controls (U+0080 to U+009F) are two bytes in UTF-8: C2 80 to C2 9F.
  for (size_t i = 0; i + 1 < out.size(); ++i)
    if (static_cast<unsigned char>(out[i]) == 0xc2 && static_cast<unsigned char>(out[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(out[i + 1]) <= 0x9f)
      out[i] = out[i + 1] = ' ';
  return out;
}

/// A string member, cleaned for the terminal.
std::string text(simdjson::dom::element e, const char* key) { return clean(str(e, key)); }

double num(simdjson::dom::element e, const char* key) {
  double d = 0;
  if (!e[key].get(d)) return d;
  int64_t i = 0;
  if (!e[key].get(i)) return double(i);
  uint64_t u = 0;
  if (!e[key].get(u)) return double(u);
  return 0;
}

bool flag(simdjson::dom::element e, const char* key) {
  bool b = false;
  if (e[key].get(b)) return false;
  return b;
}

/// The last value of a per-second series (the last complete second).
double last_of(simdjson::dom::element series, const char* key) {
  simdjson::dom::array a;
  if (series[key].get(a) || a.size() == 0) return 0;
  double d = 0;
  if (a.at(a.size() - 1).get(d)) return 0;
  return d;
}

std::string fixed(double x, int digits = 1) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(x >= 100 ? 0 : digits);
  out << x;
  return out.str();
}

std::string clock_time(int64_t unix_ms) {
  std::time_t t = unix_ms / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

/// Pads `cell` (whose visible width is `width_of`, colours aside) to `w`.
std::string pad(const std::string& cell, size_t visible, size_t w) {
  return cell + std::string(w > visible ? w - visible : 0, ' ');
}

std::string replica_text(simdjson::dom::element b) {
  auto replica = str(b, "replica");
  if (replica == "in_sync") return "in sync";
  std::string text = replica == "rebuilding" ? "rebuilding" : "catching up";
  simdjson::dom::element p;
  if (b["progress"].get(p)) return text;
  auto done = num(p, "done"), total = num(p, "total");
  if (total > 0) text += " " + fixed(100 * done / total, 0) + "% (" + fixed(done, 0) + "/" +
                         fixed(total, 0) + ")";
  else text += " (" + fixed(done, 0) + " so far)";
  text += ", " + fixed(num(p, "rate_per_s")) + "/s";
  double eta = 0;
  if (!p["eta_s"].get(eta)) text += ", ~" + fixed(eta, 0) + " s left";
  return text;
}

/// Renders one view; returns the exit code it stands for.
int render(simdjson::dom::element root, const std::string& url, const palette& c, std::ostream& out) {
  auto health = root["health"];
  auto status = text(health.value(), "status");
  auto code = status == "ok" ? 0 : status == "degraded" ? 1 : 2;
  auto shown = code == 0 ? c.good(status) : code == 1 ? c.warn(status) : c.bad(status);
  out << "lifeline " << url << ": " << shown << c.dim("   at " + clock_time(int64_t(num(root, "now"))))
      << "\n\n";
  struct row {
    std::vector<std::pair<std::string, size_t>> cells; // text (maybe coloured), visible width
  };
  std::vector<std::string> head{"BACKEND", "KIND", "STATE", "CIRCUIT", "SERVES", "CALLS/S",
                                "P99 MS", "REPLICA"};
  std::vector<row> rows;
  std::vector<std::pair<std::string, std::string>> errors;
  simdjson::dom::object series;
  bool have_series = !root["backends"].get(series);
  for (auto b : health["backends"].get_array()) {
    row r;
    auto add = [&](std::string plain, int tone) {
      auto n = plain.size();
      r.cells.emplace_back(tone == 0 ? c.good(plain) : tone == 1 ? c.warn(plain)
                           : tone == 2 ? c.bad(plain) : plain, n);
    };
    auto name = text(b, "name");
    auto state = text(b, "state"), circuit = text(b, "circuit");
    bool serving = flag(b, "serving");
    add(name, 3);
    add(text(b, "kind"), 3);
    add(state, state == "up" ? 0 : state == "starting" ? 1 : 2);
    add(circuit, circuit == "closed" ? 0 : circuit == "half_open" ? 1 : 2);
    add(serving ? "yes" : "no", serving ? 0 : 2);
    simdjson::dom::element s;
    bool has = have_series && !series[name].get(s);
    add(has ? fixed(last_of(s, "rps"), 0) : "-", 3);
    add(has ? fixed(last_of(s, "p99_ms")) : "-", 3);
    auto replica = replica_text(b);
    add(replica, str(b, "replica") == "in_sync" ? 0 : 1);
    rows.push_back(std::move(r));
    auto err = text(b, "last_error");
    if (!err.empty()) errors.emplace_back(name, err);
  }
  std::vector<size_t> width(head.size());
  for (size_t i = 0; i < head.size(); ++i) {
    width[i] = head[i].size();
    for (auto& r : rows) width[i] = std::max(width[i], r.cells[i].second);
  }
  for (size_t i = 0; i < head.size(); ++i)
    out << pad(c.dim(head[i]), head[i].size(), width[i] + 2);
  out << "\n";
  for (auto& r : rows) {
    for (size_t i = 0; i < r.cells.size(); ++i)
      out << (i + 1 < r.cells.size() ? pad(r.cells[i].first, r.cells[i].second, width[i] + 2)
                                     : r.cells[i].first);
    out << "\n";
  }
  for (auto& [name, err] : errors) out << c.dim(name + ": ") << err << "\n";
  simdjson::dom::element cluster;
  if (!health["cluster"].get(cluster) && cluster.is_object()) {
    out << "\ncluster: node " << text(cluster, "node") << ", leader "
        << (str(cluster, "leader").empty() ? c.bad("none") : text(cluster, "leader")) << "\n";
    simdjson::dom::array nodes;
    if (!cluster["nodes"].get(nodes))
      for (auto n : nodes)
        out << "  " << text(n, "name") << "  " << text(n, "state") << "  "
            << (flag(n, "reachable") ? c.good("reachable") : c.bad("unreachable")) << "\n";
  }
  // The events of the last minute, newest first.
  auto now = int64_t(num(root, "now"));
  std::vector<std::string> lines;
  simdjson::dom::array events;
  if (!root["events"].get(events))
    for (auto e : events) {
      auto t = int64_t(num(e, "t"));
      if (now - t > 60'000) continue;
      auto kind = text(e, "kind");
      std::string what = text(e, "operation");
      if (kind == "fallback")
        what += " moved from " + text(e, "from") + " to " + text(e, "to") + " (" +
                text(e, "reason") + ")";
      else if (kind == "hedge")
        what += " hedged to " + text(e, "to");
      else
        what += ": no backend could serve (503)";
      auto count = num(e, "count");
      if (count > 1) what += " x" + fixed(count, 0);
      lines.push_back(c.dim(clock_time(t)) + " " +
                      (kind == "outage" ? c.bad(kind) : c.warn(kind)) + " " + what);
    }
  out << "\n" << (lines.empty() ? c.dim("no fallbacks, hedges or outages in the last minute") :
                  "last minute:") << "\n";
  for (auto it = lines.rbegin(); it != lines.rend() && it - lines.rbegin() < 10; ++it)
    out << "  " << *it << "\n";
  return code;
}

} // namespace

int run_status(const status_options& options) {
  auto where = api::http_endpoint::parse(options.url);
  if (!where) {
    std::cerr << "lifeline status: --url must look like http://HOST:PORT\n";
    return 2;
  }
  auto token = read_token(options.token_file, "status");
  if (!token) return 2;
  api::http_client_options client_options;
  client_options.bearer_token = *token;
  client_options.request_timeout = std::chrono::seconds(10);
  bool tty = isatty(STDOUT_FILENO) == 1;
  palette colours{tty && std::getenv("NO_COLOR") == nullptr};
  if (options.watch) {
    std::signal(SIGINT, [](int) { interrupted = true; });
    std::signal(SIGTERM, [](int) { interrupted = true; });
  }
  simdjson::dom::parser parser;
  std::optional<api::http_client> client;
  int code = 2;
  for (bool first = true; first || (options.watch && !interrupted); first = false) {
    if (!first) {
      // Sleeps in short steps so that Ctrl-C ends it at once.
      auto until = std::chrono::steady_clock::now() + options.interval;
      while (!interrupted && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (interrupted) break;
    }
    std::ostringstream view;
    try {
      if (!client) client.emplace(*where, client_options);
      auto reply = client->request("GET", "/v1/status");
      simdjson::dom::element root;
      if (reply.status != 200 || parser.parse(reply.body).get(root)) {
        view << "lifeline status: " << options.url << ": HTTP " << reply.status << ": "
             << clean(std::string_view{reply.body}.substr(0, 300)) << "\n";
        code = 2;
      } else {
        code = render(root, options.url, colours, view);
        bool accepted = true;
        if (!token->empty() && !root["authenticated"].get(accepted) && !accepted)
          view << colours.warn("the token was not accepted: error texts are hidden") << "\n";
      }
    } catch (const api::http_error& e) {
      view << "lifeline status: " << options.url << ": " << colours.bad("unreachable") << ": "
           << e.what() << "\n";
      client.reset();
      code = 2;
    } catch (const simdjson::simdjson_error& e) {
      view << "lifeline status: unexpected reply: " << e.what() << "\n";
      code = 2;
    }
    // Redrawn in place on a terminal; one view after another otherwise.
    if (options.watch && tty) std::cout << "\x1b[H\x1b[2J";
    else if (!first) std::cout << "\n";
    std::cout << view.str() << std::flush;
  }
  return code;
}

} // namespace lifeline::server
