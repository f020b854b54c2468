#include "harness/overload.hpp"

#include "harness/http.hpp"
#include "harness/report.hpp"
#include "harness/workload.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>

namespace lifeline::bench {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;

enum phase_id : uint8_t { warmup = 0, capacity = 1, overload = 2, recovery = 3, check = 4 };
const char* phase_name(int p) {
  static const char* names[] = {"warm-up", "capacity", "overload", "recovery", "check"};
  return names[p];
}

enum class outcome : uint8_t { ok, shed, error };
/// Which limit a shed came from, by the problem's detail.
enum shed_kind : uint8_t { shed_http = 0, shed_backend = 1, shed_connections = 2 };

struct osample {
  double due_s = 0, sent_s = 0, done_s = 0;
  float latency_ms = 0; ///< done - due (open loop) or done - issue (closed loop).
  uint16_t status = 0;
  op_kind op = op_kind::get;
  outcome what = outcome::ok;
  uint8_t shed = 0;
  uint8_t phase = 0;
};

struct job {
  uint8_t phase = 0;
  op_kind op = op_kind::get;
  double due_s = 0, sent_s = 0;
  http::verb method = http::verb::get;
  std::string target, body;
  std::string expect;      ///< A substring a correct 2xx body has.
  size_t expect_results = 0; ///< search: results in a correct reply.
};

size_t count_of(const std::string& text, std::string_view what) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}

std::string json_string_field(const std::string& body, const std::string& key) {
  auto k = "\"" + key + "\":\"";
  auto at = body.find(k);
  if (at == std::string::npos) return {};
  at += k.size();
  auto end = body.find('"', at);
  return body.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

/// The load: one io_context on the calling thread, a pool of keep-alive
/// connections, requests issued on a schedule (open loop) or as replies
/// come back (closed loop).
class engine {
public:
  engine(const overload_config& cfg, const dataset& data, clock_type::time_point t0)
    : cfg_(cfg), data_(data), t0_(t0), timer_(io_), rng_(cfg.seed * 7919 + 17),
      base_("/v1/collections/" + cfg.collection) {
    auto rest = cfg.url.rfind("http://", 0) == 0 ? cfg.url.substr(7) : cfg.url;
    rest = rest.substr(0, rest.find('/'));
    auto colon = rest.rfind(':');
    tcp::resolver resolver{io_};
    endpoint_ = *resolver.resolve(rest.substr(0, colon), rest.substr(colon + 1)).begin();
    host_ = rest;
  }

  double now_s() const { return std::chrono::duration<double>(clock_type::now() - t0_).count(); }

  /// Closed loop: `users` requests in flight, each followed by the next as
  /// soon as it is answered, until `seconds` have passed or `max_requests`
  /// were issued. Returns [start, end) of the phase (end: when issuing stopped).
  std::pair<double, double> closed(uint8_t phase, int users, double seconds, size_t max_requests) {
    double start = now_s();
    double end = start + seconds;
    size_t issued = 0;
    double stopped = -1;
    auto next = std::make_shared<std::function<void()>>();
    *next = [&, next] {
      double t = now_s();
      if (t >= end || issued >= max_requests) {
        if (stopped < 0) stopped = t;
        return;
      }
      ++issued;
      issue(make_job(phase, t), *next);
    };
    for (int u = 0; u < users; ++u) (*next)();
    io_.restart();
    io_.run();
    *next = nullptr; // it held itself
    if (stopped < 0) stopped = now_s();
    return {start, std::min(stopped, end)};
  }

  /// Open loop: a fixed schedule of segments (phase, rate per second,
  /// seconds), back to back from now. Returns the start of each segment.
  struct segment {
    uint8_t phase;
    double rate, seconds;
  };
  std::vector<double> open(const std::vector<segment>& segs) {
    std::vector<double> starts;
    double at = now_s();
    for (auto& s : segs) {
      starts.push_back(at);
      auto n = size_t(std::llround(s.rate * s.seconds));
      for (size_t i = 0; i < n; ++i) schedule_.push_back({s.phase, at + double(i) / s.rate});
      at += s.seconds;
    }
    starts.push_back(at);
    next_ = 0;
    tick();
    io_.restart();
    io_.run();
    return starts;
  }

  std::vector<osample> samples;
  std::map<std::string, uint64_t> error_kinds; ///< What the errors were, by text.
  uint64_t writes_not_applied_everywhere = 0;
  uint64_t sheds_without_retry_after = 0;
  size_t peak_connections = 0;
  uint64_t connects = 0;
  std::atomic<uint64_t> done{0}, shed{0}, errors{0};
  std::atomic<int> phase_now{0};

private:
  struct conn {
    explicit conn(net::io_context& io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    std::optional<http::response_parser<http::string_body>> parser;
    bool connected = false;
    job j;
    std::function<void()> then;
  };
  using conn_ptr = std::shared_ptr<conn>;

  job make_job(uint8_t phase, double due) {
    job j;
    j.phase = phase;
    j.due_s = due;
    j.op = cfg_.mix.pick(rng_);
    auto doc = [&](size_t i, std::string& out) {
      out += R"({"id":"d)" + std::to_string(i) + R"(","content":"o)" + std::to_string(i) + R"(","vector":)";
      append_vector(out, data_.vector(i % data_.size()));
      out += '}';
    };
    switch (j.op) {
      case op_kind::get: {
        auto id = rng_() % cfg_.docs;
        j.method = http::verb::get;
        j.target = base_ + "/documents/d" + std::to_string(id);
        j.expect = R"("id":"d)" + std::to_string(id) + '"';
        break;
      }
      case op_kind::search: {
        j.method = http::verb::post;
        j.target = base_ + "/search";
        j.body = R"({"k":)" + std::to_string(cfg_.k) + R"(,"vector":)";
        append_vector(j.body, data_.query(rng_() % data_.query_count()));
        j.body += '}';
        j.expect = R"("results":[)";
        j.expect_results = std::min<size_t>(cfg_.k, cfg_.docs);
        break;
      }
      case op_kind::upsert: {
        auto id = rng_() % cfg_.docs;
        j.method = http::verb::put;
        j.target = base_ + "/documents/d" + std::to_string(id);
        doc(id, j.body);
        j.expect = R"("id":"d)" + std::to_string(id) + '"';
        break;
      }
      case op_kind::batch: {
        auto first = rng_() % (cfg_.docs > cfg_.batch ? cfg_.docs - cfg_.batch : 1);
        j.method = http::verb::post;
        j.target = base_ + "/documents";
        j.body = R"({"documents":[)";
        for (size_t i = 0; i < cfg_.batch; ++i) {
          if (i) j.body += ',';
          doc(first + i, j.body);
        }
        j.body += "]}";
        j.expect = R"("count":)" + std::to_string(cfg_.batch) + ',';
        break;
      }
    }
    return j;
  }

  void tick() {
    double t = now_s();
    while (next_ < schedule_.size() && schedule_[next_].second <= t) {
      auto [phase, due] = schedule_[next_++];
      phase_now = phase;
      issue(make_job(phase, due), {});
    }
    if (next_ >= schedule_.size()) return;
    timer_.expires_at(t0_ + std::chrono::duration_cast<clock_type::duration>(
                              std::chrono::duration<double>(schedule_[next_].second)));
    timer_.async_wait([this](beast::error_code) { tick(); });
  }

  void issue(job j, std::function<void()> then) {
    conn_ptr c;
    if (!idle_.empty()) {
      c = idle_.back();
      idle_.pop_back();
    } else if (open_ < size_t(cfg_.max_connections)) {
      ++open_;
      peak_connections = std::max(peak_connections, open_);
      c = std::make_shared<conn>(io_);
    } else {
      waiting_.emplace_back(std::move(j), std::move(then));
      return;
    }
    start(c, std::move(j), std::move(then));
  }

  void start(const conn_ptr& c, job j, std::function<void()> then) {
    c->j = std::move(j);
    c->then = std::move(then);
    auto& req = c->req;
    req = {};
    req.method(c->j.method);
    req.target(c->j.target);
    req.version(11);
    req.set(http::field::host, host_);
    if (!cfg_.token.empty()) req.set(http::field::authorization, "Bearer " + cfg_.token);
    if (!c->j.body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::move(c->j.body);
    req.prepare_payload();
    c->stream.expires_after(std::chrono::duration_cast<clock_type::duration>(
      std::chrono::duration<double>(cfg_.request_timeout_s)));
    if (c->connected) return send(c);
    ++connects;
    c->buffer.clear();
    c->stream.async_connect(endpoint_, [this, c](beast::error_code ec) {
      if (ec) return fail(c, "connect: " + ec.message());
      c->connected = true;
      send(c);
    });
  }

  void send(const conn_ptr& c) {
    c->j.sent_s = now_s();
    http::async_write(c->stream, c->req, [this, c](beast::error_code ec, size_t) {
      if (ec) return fail(c, "write: " + ec.message());
      c->parser.emplace();
      c->parser->body_limit(64u << 20);
      http::async_read(c->stream, c->buffer, *c->parser, [this, c](beast::error_code ec, size_t) {
        if (ec) return fail(c, "read: " + ec.message());
        on_reply(c);
      });
    });
  }

  void on_reply(const conn_ptr& c) {
    auto& res = c->parser->get();
    auto status = res.result_int();
    auto& body = res.body();
    auto& j = c->j;
    osample s = base_sample(j);
    s.status = uint16_t(status);
    if (status >= 200 && status < 300) {
      bool right = body.find(j.expect) != std::string::npos;
      if (right && j.op == op_kind::search) right = count_of(body, R"("id":")") == j.expect_results;
      if (right && (j.op == op_kind::upsert || j.op == op_kind::batch)) {
        right = body.find(R"("version":)") != std::string::npos;
        if (body.find(R"("deferred")") != std::string::npos || body.find(R"("failed")") != std::string::npos)
          ++writes_not_applied_everywhere;
      }
      if (right) s.what = outcome::ok;
      else record_error(s, std::string{"wrong reply to "} + to_string(j.op) + " (" + std::to_string(status) + "): "
                               + body.substr(0, 160));
    } else if (status == 503 && json_string_field(body, "title") == "Overloaded") {
      if (res.find(http::field::retry_after) == res.end()) {
        ++sheds_without_retry_after;
        record_error(s, "503 Overloaded without Retry-After");
      } else {
        s.what = outcome::shed;
        auto detail = json_string_field(body, "detail");
        s.shed = detail.find("requests in flight") != std::string::npos ? shed_http
                 : detail.find("calls in flight") != std::string::npos  ? shed_backend
                                                                        : shed_connections;
        ++shed;
      }
    } else {
      record_error(s, std::to_string(status) + " " + json_string_field(body, "title") + ": "
                        + json_string_field(body, "detail").substr(0, 120));
    }
    samples.push_back(s);
    ++done;
    bool keep = res.keep_alive();
    c->parser.reset();
    if (!keep) close(c);
    release(c);
  }

  osample base_sample(const job& j) const {
    osample s;
    s.due_s = j.due_s;
    s.sent_s = j.sent_s > 0 ? j.sent_s : j.due_s;
    s.done_s = now_s();
    s.latency_ms = float((s.done_s - j.due_s) * 1000.0);
    s.op = j.op;
    s.phase = j.phase;
    return s;
  }

  void record_error(osample& s, const std::string& what) {
    s.what = outcome::error;
    ++error_kinds[std::string{phase_name(s.phase)} + ": " + what];
    ++errors;
  }

  void fail(const conn_ptr& c, const std::string& what) {
    osample s = base_sample(c->j);
    record_error(s, "no reply (" + what + ")");
    samples.push_back(s);
    ++done;
    c->parser.reset();
    close(c);
    release(c);
  }

  void close(const conn_ptr& c) {
    beast::error_code ignored;
    c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c->stream.socket().close(ignored);
    c->connected = false;
    c->buffer.clear();
  }

  /// The connection is free: the next waiting request, or the idle pool.
  void release(const conn_ptr& c) {
    auto then = std::move(c->then);
    c->then = {};
    if (!waiting_.empty()) {
      auto [j, t] = std::move(waiting_.front());
      waiting_.pop_front();
      start(c, std::move(j), std::move(t));
    } else if (c->connected) {
      idle_.push_back(c);
    } else {
      --open_;
    }
    if (then) then();
  }

  const overload_config& cfg_;
  const dataset& data_;
  clock_type::time_point t0_;
  net::io_context io_;
  net::steady_timer timer_;
  tcp::endpoint endpoint_;
  std::string host_;
  std::mt19937_64 rng_;
  std::string base_;
  std::vector<conn_ptr> idle_;
  std::deque<std::pair<job, std::function<void()>>> waiting_;
  size_t open_ = 0;
  std::vector<std::pair<uint8_t, double>> schedule_;
  size_t next_ = 0;
};

/// One sample a second of the server process and of this one.
struct sys_sample {
  double t = 0;
  double rss_mb = -1;
  double server_cpu_s = -1, client_cpu_s = 0;
  double http_shed_total = -1, http_in_flight = -1, backend_shed_total = -1;
};

double rss_mb_of(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  return -1;
}

double cpu_seconds_of(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest{text.substr(paren + 2)};
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / double(::sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// Sum of a metric's samples in Prometheus text (any labels); -1 if absent.
double metric_sum(const std::string& text, const std::string& name) {
  double sum = -1;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    auto sp = line.rfind(' ');
    sum = (sum < 0 ? 0 : sum) + std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return sum;
}

struct phase_stats {
  int phase = 0;
  double start = 0, end = 0;
  double factor = 0; ///< Of C, for open-loop phases.
  uint64_t requests = 0, ok = 0, shed = 0, errors = 0;
  uint64_t shed_by[3] = {0, 0, 0};
  double offered = 0, sent_rate = 0, admitted = 0, shed_rate = 0;
  double p50 = 0, p99 = 0, p999 = 0, shed_p99 = 0, send_lag_p99 = 0;
  double rss_min = -1, rss_max = -1, rss_end = -1;
  double server_cpu = -1, client_cpu = -1; ///< Percent of one core.
};

struct second_stats {
  int phase = 0;
  int index = 0;
  double t = 0;
  uint64_t offered = 0, sent = 0, ok = 0, shed = 0, errors = 0;
  double p50 = 0, p99 = 0, p999 = 0, shed_p99 = 0;
  double rss_mb = -1, server_cpu = -1, client_cpu = -1, in_flight = -1, http_shed_total = -1;
};

const sys_sample* sample_at(const std::vector<sys_sample>& sys, double t) {
  // The first sample at or after t (within a second), else the last before.
  const sys_sample* best = nullptr;
  for (auto& s : sys) {
    if (s.t >= t) return s.t - t <= 1.01 ? &s : best;
    best = &s;
  }
  return best;
}

std::string fmt(const char* f, double x) {
  char buf[64];
  if (x < 0) return "-";
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

} // namespace

int run_overload(const overload_config& cfg, const dataset& data) {
  auto t0 = clock_type::now();
  engine load{cfg, data, t0};

  // The per-second sampler (and the progress line).
  std::vector<sys_sample> sys;
  std::mutex sys_mutex;
  std::atomic<bool> running{true};
  std::thread sampler{[&] {
    auto metrics = client_for(cfg.url, cfg.token);
    for (int s = 0; running; ++s) {
      auto due = t0 + std::chrono::seconds(s);
      while (running && clock_type::now() < due) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (!running) break;
      sys_sample x;
      x.t = std::chrono::duration<double>(clock_type::now() - t0).count();
      if (cfg.server_pid > 0) {
        x.rss_mb = rss_mb_of(cfg.server_pid);
        x.server_cpu_s = cpu_seconds_of(cfg.server_pid);
      }
      x.client_cpu_s = self_cpu_seconds();
      auto m = try_request(metrics, "GET", "/metrics");
      if (m.status == 200) {
        x.http_shed_total = metric_sum(m.body, "lifeline_http_shed_total");
        x.http_in_flight = metric_sum(m.body, "lifeline_http_in_flight");
        x.backend_shed_total = metric_sum(m.body, "lifeline_backend_shed_total");
      }
      {
        std::lock_guard g{sys_mutex};
        sys.push_back(x);
      }
      std::fprintf(stderr, "\r[%4d s] %-8s %9llu requests, %8llu shed, %6llu errors, RSS %s MB   ", s,
                   phase_name(load.phase_now.load()), (unsigned long long)load.done.load(),
                   (unsigned long long)load.shed.load(), (unsigned long long)load.errors.load(),
                   fmt("%.1f", x.rss_mb).c_str());
    }
  }};

  // Warm-up and capacity: closed loops over the same connections.
  std::vector<phase_stats> phases(5);
  load.phase_now = warmup;
  auto w = load.closed(warmup, cfg.capacity_concurrency, cfg.warmup_s, SIZE_MAX);
  phases[warmup].start = w.first, phases[warmup].end = w.second;
  load.phase_now = capacity;
  auto c = load.closed(capacity, cfg.capacity_concurrency, cfg.capacity_s, SIZE_MAX);
  phases[capacity].start = c.first, phases[capacity].end = c.second;
  uint64_t cap_ok = 0;
  for (auto& s : load.samples)
    if (s.phase == capacity && s.what == outcome::ok) ++cap_ok;
  double C = double(cap_ok) / (c.second - c.first);
  if (C <= 0) {
    running = false;
    sampler.join();
    std::fprintf(stderr, "\nlifeline-bench: the capacity phase served nothing\n");
    return 3;
  }
  std::fprintf(stderr, "\ncapacity C = %.0f requests/s; open loop at %.0f/s, then %.0f/s\n", C,
               cfg.overload_factor * C, cfg.recovery_factor * C);

  // Overload, then recovery, on one fixed schedule.
  load.phase_now = overload;
  auto starts = load.open({{overload, cfg.overload_factor * C, cfg.overload_s},
                           {recovery, cfg.recovery_factor * C, cfg.recovery_s}});
  phases[overload].start = starts[0], phases[overload].end = starts[1];
  phases[recovery].start = starts[1], phases[recovery].end = starts[2];
  phases[overload].factor = cfg.overload_factor;
  phases[recovery].factor = cfg.recovery_factor;

  // The server answers normally: sequential requests, all must be correct.
  load.phase_now = check;
  auto k = load.closed(check, 1, 1e9, size_t(cfg.check_requests));
  phases[check].start = k.first, phases[check].end = k.second;
  running = false;
  sampler.join();
  std::fprintf(stderr, "\n");

  // Per phase.
  std::vector<std::vector<float>> ok_lat(5), shed_lat(5), lag(5);
  for (auto& s : load.samples) {
    auto& p = phases[s.phase];
    ++p.requests;
    lag[s.phase].push_back(float((s.sent_s - s.due_s) * 1000));
    if (s.what == outcome::ok) ++p.ok, ok_lat[s.phase].push_back(s.latency_ms);
    else if (s.what == outcome::shed) ++p.shed, ++p.shed_by[s.shed], shed_lat[s.phase].push_back(s.latency_ms);
    else ++p.errors;
  }
  for (int i = 0; i < 5; ++i) {
    auto& p = phases[i];
    p.phase = i;
    double d = std::max(1e-9, p.end - p.start);
    uint64_t sent = 0;
    for (auto& s : load.samples)
      if (s.phase == i && s.sent_s >= p.start && s.sent_s < p.end) ++sent;
    p.offered = double(p.requests) / d;
    p.sent_rate = double(sent) / d;
    p.admitted = double(p.ok) / d;
    p.shed_rate = double(p.shed) / d;
    p.p50 = percentile(ok_lat[i], 0.5);
    p.p99 = percentile(ok_lat[i], 0.99);
    p.p999 = percentile(ok_lat[i], 0.999);
    p.shed_p99 = percentile(shed_lat[i], 0.99);
    p.send_lag_p99 = percentile(lag[i], 0.99);
    const sys_sample *first = nullptr, *last = nullptr;
    for (auto& s : sys) {
      if (s.t < p.start - 0.01 || s.t > p.end + 0.01) continue;
      if (!first) first = &s;
      last = &s;
      if (s.rss_mb >= 0) {
        p.rss_min = p.rss_min < 0 ? s.rss_mb : std::min(p.rss_min, s.rss_mb);
        p.rss_max = std::max(p.rss_max, s.rss_mb);
        p.rss_end = s.rss_mb;
      }
    }
    if (first && last && last->t - first->t > 0.5) {
      if (first->server_cpu_s >= 0)
        p.server_cpu = 100 * (last->server_cpu_s - first->server_cpu_s) / (last->t - first->t);
      p.client_cpu = 100 * (last->client_cpu_s - first->client_cpu_s) / (last->t - first->t);
    }
  }

  // Per second, within each phase, by the time requests were due.
  std::vector<second_stats> rows;
  for (int i = 0; i < 5; ++i) {
    auto& p = phases[i];
    auto n = size_t(std::ceil(p.end - p.start - 1e-6));
    std::vector<second_stats> r(std::max<size_t>(1, n));
    std::vector<std::vector<float>> okl(r.size()), shl(r.size());
    for (size_t j = 0; j < r.size(); ++j) r[j].phase = i, r[j].index = int(j), r[j].t = p.start + double(j);
    for (auto& s : load.samples) {
      if (s.phase != i) continue;
      auto j = std::min(r.size() - 1, size_t(std::max(0.0, s.due_s - p.start)));
      ++r[j].offered;
      if (s.sent_s >= r[j].t && s.sent_s < r[j].t + 1) ++r[j].sent;
      if (s.what == outcome::ok) ++r[j].ok, okl[j].push_back(s.latency_ms);
      else if (s.what == outcome::shed) ++r[j].shed, shl[j].push_back(s.latency_ms);
      else ++r[j].errors;
    }
    for (size_t j = 0; j < r.size(); ++j) {
      r[j].p50 = percentile(okl[j], 0.5);
      r[j].p99 = percentile(okl[j], 0.99);
      r[j].p999 = percentile(okl[j], 0.999);
      r[j].shed_p99 = percentile(shl[j], 0.99);
      auto* a = sample_at(sys, r[j].t);
      auto* b = sample_at(sys, r[j].t + 1);
      if (b) {
        r[j].rss_mb = b->rss_mb;
        r[j].in_flight = b->http_in_flight;
        r[j].http_shed_total = b->http_shed_total;
      }
      if (a && b && b->t - a->t > 0.5) {
        if (a->server_cpu_s >= 0) r[j].server_cpu = 100 * (b->server_cpu_s - a->server_cpu_s) / (b->t - a->t);
        r[j].client_cpu = 100 * (b->client_cpu_s - a->client_cpu_s) / (b->t - a->t);
      }
    }
    if (i == check) continue; // a count, not a time: not plotted
    rows.insert(rows.end(), r.begin(), r.end());
  }

  // Recovery: from the drop, the first second with no shed, no error and
  // p99 within the capacity phase's; and the last shed / slow request.
  double drop = phases[recovery].start, cap_p99 = phases[capacity].p99;
  int clean_second = -1;
  for (auto& r : rows)
    if (r.phase == recovery && r.shed == 0 && r.errors == 0 && r.ok > 0 && r.p99 <= cap_p99) {
      clean_second = r.index;
      break;
    }
  double last_shed = -1, last_slow = -1;
  for (auto& s : load.samples) {
    if (s.phase != recovery) continue;
    if (s.what == outcome::shed) last_shed = std::max(last_shed, s.due_s - drop);
    if (s.what == outcome::ok && s.latency_ms > cap_p99) last_slow = std::max(last_slow, s.due_s - drop);
  }

  // What the server counted, against what the client saw.
  double srv_http_shed = -1, srv_backend_shed = -1, max_in_flight_seen = -1;
  for (auto& s : sys) {
    // A counter with labels has no series until its first increment.
    if (s.http_shed_total >= 0 && s.backend_shed_total < 0) s.backend_shed_total = 0;
    srv_http_shed = std::max(srv_http_shed, s.http_shed_total);
    srv_backend_shed = std::max(srv_backend_shed, s.backend_shed_total);
    max_in_flight_seen = std::max(max_in_flight_seen, s.http_in_flight);
  }
  uint64_t client_http_shed = 0, client_backend_shed = 0, client_conn_shed = 0, total_errors = 0;
  for (int i = 0; i < 5; ++i) {
    client_http_shed += phases[i].shed_by[shed_http];
    client_backend_shed += phases[i].shed_by[shed_backend];
    client_conn_shed += phases[i].shed_by[shed_connections];
    total_errors += phases[i].errors;
  }
  bool check_ok = phases[check].ok == phases[check].requests && phases[check].requests == uint64_t(cfg.check_requests);

  // The summary.
  std::ostringstream t;
  char line[512];
  t << cfg.title << "\n";
  t << "  server limits: " << cfg.server_limits << "\n";
  std::snprintf(line, sizeof line,
                "  capacity C = %.0f requests/s (2xx/s, closed loop, %d in flight, %.0f s after a %.0f s warm-up)\n",
                C, cfg.capacity_concurrency, cfg.capacity_s, cfg.warmup_s);
  t << line;
  t << "  phase             secs  offered/s  sent/s  2xx/s   shed (503 Overloaded)  errors  2xx p50    p99      "
       "p99.9    shed p99  send lag p99  RSS min-max MB   server CPU  client CPU\n";
  for (int i = capacity; i <= recovery; ++i) {
    auto& p = phases[i];
    std::string name = phase_name(i);
    if (p.factor > 0) name += " " + fmt("%.1f", p.factor) + "xC";
    std::snprintf(line, sizeof line,
                  "  %-16s %5.1f  %9.0f  %6.0f  %5.0f  %8llu = %6.0f/s    %6llu  %7.2f  %7.2f  %7.2f  %8s  %9s ms  "
                  "%6s-%-6s    %6s%%     %6s%%\n",
                  name.c_str(), p.end - p.start, p.offered, p.sent_rate, p.admitted, (unsigned long long)p.shed,
                  p.shed_rate, (unsigned long long)p.errors, p.p50, p.p99, p.p999,
                  p.shed > 0 ? fmt("%.2f", p.shed_p99).c_str() : "-", fmt("%.2f", p.send_lag_p99).c_str(),
                  fmt("%.1f", p.rss_min).c_str(), fmt("%.1f", p.rss_max).c_str(), fmt("%.0f", p.server_cpu).c_str(),
                  fmt("%.0f", p.client_cpu).c_str());
    t << line;
  }
  auto& o = phases[overload];
  auto& cp = phases[capacity];
  std::snprintf(line, sizeof line,
                "  ratios: 2xx p99 during overload / capacity phase %.2fx (%.2f / %.2f ms); RSS max during overload / "
                "RSS at the end of the capacity phase %s (%s / %s MB)\n",
                cp.p99 > 0 ? o.p99 / cp.p99 : 0.0, o.p99, cp.p99,
                o.rss_max > 0 && cp.rss_end > 0 ? fmt("%.3fx", o.rss_max / cp.rss_end).c_str() : "-",
                fmt("%.1f", o.rss_max).c_str(), fmt("%.1f", cp.rss_end).c_str());
  t << line;
  std::snprintf(line, sizeof line,
                "  after the drop to %.1fxC: first second with no shed, no error and 2xx p99 <= %.2f ms: %s; last "
                "shed request due %s s after the drop; last 2xx slower than %.2f ms due %s s after it\n",
                cfg.recovery_factor, cap_p99,
                clean_second >= 0 ? ("second " + std::to_string(clean_second + 1) + " (" + std::to_string(clean_second)
                                     + "-" + std::to_string(clean_second + 1) + " s after the drop)")
                                      .c_str()
                                  : "never in the phase",
                last_shed >= 0 ? fmt("%.3f", last_shed).c_str() : "(none)", cap_p99,
                last_slow >= 0 ? fmt("%.3f", last_slow).c_str() : "(none)");
  t << line;
  double wanted = cfg.overload_factor * C;
  std::snprintf(line, sizeof line,
                "  client: one thread, sent %.0f/s of the %.0f/s scheduled during the overload (%.1f%%), send lag "
                "p99 %.2f ms, %.0f%% of a core; %zu connections at most, %llu connects\n",
                o.sent_rate, wanted, wanted > 0 ? 100 * o.sent_rate / wanted : 0.0, o.send_lag_p99,
                std::max(0.0, o.client_cpu), load.peak_connections, (unsigned long long)load.connects);
  t << line;
  if (wanted > 0 && (o.sent_rate < 0.97 * wanted || o.send_lag_p99 > 10))
    t << "  WARNING: the client did not keep to its schedule: the overload offered less than "
      << cfg.overload_factor << "xC on time\n";
  std::snprintf(line, sizeof line,
                "  sheds seen by the client: %llu max_in_flight, %llu backend_max_in_flight, %llu connection cap; "
                "server counters: lifeline_http_shed_total %s, lifeline_backend_shed_total %s; "
                "lifeline_http_in_flight at most %s (sampled)\n",
                (unsigned long long)client_http_shed, (unsigned long long)client_backend_shed,
                (unsigned long long)client_conn_shed, fmt("%.0f", srv_http_shed).c_str(),
                fmt("%.0f", srv_backend_shed).c_str(), fmt("%.0f", max_in_flight_seen).c_str());
  t << line;
  std::snprintf(line, sizeof line,
                "  errors other than sheds: %llu (goal: 0); 503 Overloaded without Retry-After: %llu; writes "
                "acknowledged without every backend applying them: %llu\n",
                (unsigned long long)total_errors, (unsigned long long)load.sheds_without_retry_after,
                (unsigned long long)load.writes_not_applied_everywhere);
  t << line;
  for (auto& [what, n] : load.error_kinds) t << "    " << n << " x " << what << "\n";
  std::snprintf(line, sizeof line, "  check after the run: %llu of %d sequential requests answered correctly%s\n",
                (unsigned long long)phases[check].ok, cfg.check_requests, check_ok ? "" : " (FAILED)");
  t << line;

  // Files.
  {
    std::ofstream csv{cfg.out + "/per_second.csv"};
    csv << "t_s,phase,second,offered,sent,ok,shed,errors,p50_ms,p99_ms,p999_ms,shed_p99_ms,rss_mb,"
           "server_cpu_pct,client_cpu_pct,server_in_flight,server_shed_total\n";
    for (auto& r : rows)
      csv << fmt("%.3f", r.t) << ',' << phase_name(r.phase) << ',' << r.index << ',' << r.offered << ',' << r.sent
          << ',' << r.ok << ',' << r.shed << ',' << r.errors << ',' << r.p50 << ',' << r.p99 << ',' << r.p999 << ','
          << r.shed_p99 << ',' << r.rss_mb << ',' << r.server_cpu << ',' << r.client_cpu << ',' << r.in_flight
          << ',' << r.http_shed_total << '\n';
    std::ofstream json{cfg.out + "/per_second.json"};
    json << "[\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      auto& r = rows[i];
      json << "  {\"t_s\":" << r.t << ",\"phase\":\"" << phase_name(r.phase) << "\",\"second\":" << r.index
           << ",\"offered\":" << r.offered << ",\"sent\":" << r.sent << ",\"ok\":" << r.ok << ",\"shed\":" << r.shed
           << ",\"errors\":" << r.errors << ",\"p50_ms\":" << r.p50 << ",\"p99_ms\":" << r.p99
           << ",\"p999_ms\":" << r.p999 << ",\"shed_p99_ms\":" << r.shed_p99 << ",\"rss_mb\":" << r.rss_mb
           << ",\"server_cpu_pct\":" << r.server_cpu << ",\"client_cpu_pct\":" << r.client_cpu
           << ",\"server_in_flight\":" << r.in_flight << "}" << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    json << "]\n";
    std::ofstream j{cfg.out + "/summary.json"};
    j << "{\"scenario\":\"overload\",\"server_limits\":\"" << cfg.server_limits << "\",\"capacity_rps\":" << C
      << ",\"capacity_concurrency\":" << cfg.capacity_concurrency << ",\"phases\":[";
    for (int i = capacity; i <= check; ++i) {
      auto& p = phases[i];
      j << (i > capacity ? "," : "") << "{\"phase\":\"" << phase_name(i) << "\",\"factor\":" << p.factor
        << ",\"seconds\":" << p.end - p.start << ",\"requests\":" << p.requests << ",\"offered_rps\":" << p.offered
        << ",\"sent_rps\":" << p.sent_rate << ",\"ok\":" << p.ok << ",\"ok_rps\":" << p.admitted
        << ",\"shed\":" << p.shed << ",\"shed_rps\":" << p.shed_rate << ",\"shed_http\":" << p.shed_by[shed_http]
        << ",\"shed_backend\":" << p.shed_by[shed_backend] << ",\"shed_connections\":" << p.shed_by[shed_connections]
        << ",\"errors\":" << p.errors << ",\"p50_ms\":" << p.p50 << ",\"p99_ms\":" << p.p99
        << ",\"p999_ms\":" << p.p999 << ",\"shed_p99_ms\":" << p.shed_p99 << ",\"send_lag_p99_ms\":" << p.send_lag_p99
        << ",\"rss_min_mb\":" << p.rss_min << ",\"rss_max_mb\":" << p.rss_max << ",\"rss_end_mb\":" << p.rss_end
        << ",\"server_cpu_pct\":" << p.server_cpu << ",\"client_cpu_pct\":" << p.client_cpu << "}";
    }
    j << "],\"shed_total\":" << (client_http_shed + client_backend_shed + client_conn_shed)
      << ",\"shed_without_retry_after\":" << load.sheds_without_retry_after << ",\"errors_total\":" << total_errors
      << ",\"server_http_shed_total\":" << srv_http_shed << ",\"server_backend_shed_total\":" << srv_backend_shed
      << ",\"p99_ratio_overload_to_capacity\":" << (cp.p99 > 0 ? o.p99 / cp.p99 : 0)
      << ",\"rss_ratio_overload_max_to_capacity_end\":"
      << (o.rss_max > 0 && cp.rss_end > 0 ? o.rss_max / cp.rss_end : -1)
      << ",\"recovery_first_clean_second\":" << (clean_second >= 0 ? clean_second + 1 : -1)
      << ",\"recovery_last_shed_s\":" << last_shed << ",\"recovery_last_slow_s\":" << last_slow
      << ",\"check_requests\":" << cfg.check_requests << ",\"check_ok\":" << phases[check].ok
      << ",\"check_passed\":" << (check_ok ? "true" : "false") << "}\n";
  }
  {
    std::ofstream gp{cfg.out + "/plot.gp"};
    auto csv = cfg.out + "/per_second.csv";
    gp << "set terminal pngcairo size 1200,800 noenhanced\nset output '" << cfg.out << "/plot.png'\n"
       << "set datafile separator ','\nset multiplot layout 2,1 title '" << cfg.title << " (" << cfg.server_limits
       << ")'\nset grid\nset key top right\nset xlabel 'seconds'\n";
    for (int i = capacity; i <= recovery; ++i)
      gp << "set arrow " << i << " from " << phases[i].start << ", graph 0 to " << phases[i].start
         << ", graph 1 nohead dt 2 lc rgb 'red'\nset label " << i << " '" << phase_name(i) << "' at "
         << phases[i].start + 0.2 << ", graph 0.95 left tc rgb 'red' font ',9'\n";
    gp << "set ylabel 'requests/s'\nset y2label '2xx p99 (ms, log)'\nset logscale y2\nset ytics nomirror\n"
          "set y2tics\n"
       << "plot '" << csv << "' every ::1 using 1:4 with lines lw 2 title 'offered/s', \\\n"
       << "     '' every ::1 using 1:6 with lines lw 2 title '2xx/s', \\\n"
       << "     '' every ::1 using 1:7 with lines title 'shed (503 Overloaded)/s', \\\n"
       << "     '' every ::1 using 1:8 with impulses lw 3 title 'errors/s', \\\n"
       << "     '' every ::1 using 1:($10 > 0 ? $10 : 1/0) axes x1y2 with linespoints pt 7 ps 0.4 title '2xx p99 ms'\n"
       << "unset logscale y2\nset ylabel 'server RSS (MB)'\nset y2label 'CPU (% of one core)'\nset yrange [0:*]\n"
       << "set y2range [0:*]\n"
       << "plot '" << csv << "' every ::1 using 1:($13 >= 0 ? $13 : 1/0) with lines lw 2 title 'server RSS MB', \\\n"
       << "     '' every ::1 using 1:($14 >= 0 ? $14 : 1/0) axes x1y2 with lines title 'server CPU %', \\\n"
       << "     '' every ::1 using 1:($15 >= 0 ? $15 : 1/0) axes x1y2 with lines title 'client CPU %'\n"
       << "unset multiplot\n";
  }
  auto cmd = "gnuplot '" + cfg.out + "/plot.gp' 2>" + cfg.out + "/gnuplot.log";
  if (std::system(cmd.c_str()) != 0) t << "  (no plot: gnuplot failed, see " << cfg.out << "/gnuplot.log)\n";
  else t << "  plot: " << cfg.out << "/plot.png\n";
  std::ofstream{cfg.out + "/summary.txt"} << t.str();
  std::cout << t.str() << "  results: " << cfg.out << "\n";
  return total_errors == 0 && check_ok ? 0 : 3;
}

} // namespace lifeline::bench
