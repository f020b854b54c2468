#include "harness/workload.hpp"

#include "harness/http.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace lifeline::bench {

void append_vector(std::string& out, std::span<const float> v) {
  out += '[';
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    auto r = std::to_chars(buf, buf + sizeof buf, v[i]);
    out.append(buf, r.ptr);
  }
  out += ']';
}


using clock_type = std::chrono::steady_clock;

const char* to_string(op_kind k) {
  switch (k) {
    case op_kind::get: return "get";
    case op_kind::search: return "search";
    case op_kind::upsert: return "upsert";
    case op_kind::batch: return "batch";
  }
  return "?";
}

op_mix op_mix::parse(const std::string& text) {
  op_mix m;
  std::stringstream in{text};
  for (std::string part; std::getline(in, part, ',');) {
    auto colon = part.find(':');
    auto name = part.substr(0, colon);
    int weight = colon == std::string::npos ? 1 : std::atoi(part.c_str() + colon + 1);
    op_kind k;
    if (name == "get") k = op_kind::get;
    else if (name == "search") k = op_kind::search;
    else if (name == "upsert") k = op_kind::upsert;
    else if (name == "batch") k = op_kind::batch;
    else throw std::runtime_error("--mix: unknown operation '" + name + "' (get, search, upsert, batch)");
    if (weight <= 0) throw std::runtime_error("--mix: weight of " + name + " must be positive");
    m.weights.emplace_back(k, weight);
  }
  if (m.weights.empty()) throw std::runtime_error("--mix: no operation");
  return m;
}

op_kind op_mix::pick(std::mt19937_64& rng) const {
  int total = 0;
  for (auto& [k, w] : weights) total += w;
  int x = int(rng() % uint64_t(total));
  for (auto& [k, w] : weights)
    if ((x -= w) < 0) return k;
  return weights.back().first;
}

std::string op_mix::describe() const {
  std::string out;
  for (auto& [k, w] : weights) out += (out.empty() ? "" : ",") + std::string{to_string(k)} + ":" + std::to_string(w);
  return out;
}

uint8_t served_from(const std::string& header) {
  uint8_t bits = 0;
  std::stringstream in{header};
  for (std::string name; std::getline(in, name, ',');) {
    name.erase(0, name.find_first_not_of(' '));
    if (name == "postgres") bits |= served_postgres;
    else if (name == "vectors") bits |= served_vectors;
    else if (!name.empty()) bits |= served_other;
  }
  return bits;
}

namespace {

class http_load_target final : public target {
public:
  http_load_target(const std::string& url, std::string token, std::string collection,
                   const dataset& data)
    : client_(client_for(url, token)), base_("/v1/collections/" + collection), data_(data) {}

  reply get(const std::string& id) override {
    return to_reply(try_request(client_, "GET", base_ + "/documents/" + id));
  }

  reply search(std::span<const float> q, uint32_t k) override {
    std::string body = R"({"k":)" + std::to_string(k) + R"(,"vector":)";
    append_vector(body, q);
    body += '}';
    return to_reply(try_request(client_, "POST", base_ + "/search", std::move(body)));
  }

  reply upsert(size_t first, size_t count, const std::string& content) override {
    auto doc = [&](size_t i, std::string& out) {
      out += R"({"id":"d)" + std::to_string(i) + R"(","content":")" + content + R"(","vector":)";
      append_vector(out, data_.vector(i % data_.size()));
      out += '}';
    };
    std::string body;
    if (count == 1) {
      doc(first, body);
      return to_reply(try_request(client_, "PUT", base_ + "/documents/d" + std::to_string(first), std::move(body)));
    }
    body = R"({"documents":[)";
    for (size_t i = 0; i < count; ++i) {
      if (i) body += ',';
      doc(first + i, body);
    }
    body += "]}";
    return to_reply(try_request(client_, "POST", base_ + "/documents", std::move(body)));
  }

private:
  static reply to_reply(const api::http_response& r) {
    return {uint16_t(r.status), served_from(r.header("x-served-by"))};
  }
  api::http_client client_;
  std::string base_;
  const dataset& data_;
};

} // namespace

std::unique_ptr<target> http_target(const std::string& url, const std::string& token,
                                    const std::string& collection, const dataset& data) {
  return std::make_unique<http_load_target>(url, token, collection, data);
}

std::vector<sample> run_load(const load_config& cfg, const dataset& data,
                             const std::function<std::unique_ptr<target>()>& make_target,
                             const std::function<void(double, uint64_t, uint64_t)>& tick) {
  std::vector<std::vector<sample>> per_worker(size_t(cfg.concurrency));
  std::atomic<uint64_t> done{0}, errors{0};
  std::vector<std::unique_ptr<target>> targets;
  for (int w = 0; w < cfg.concurrency; ++w) targets.push_back(make_target());
  auto start = clock_type::now();
  auto seconds_since = [&](clock_type::time_point t) {
    return std::chrono::duration<double>(t - start).count();
  };
  auto worker = [&](int w) {
    std::mt19937_64 rng{cfg.seed * 1000003 + uint64_t(w)};
    auto& out = per_worker[size_t(w)];
    out.reserve(1 << 16);
    auto& t = *targets[size_t(w)];
    for (uint64_t n = 0;; ++n) {
      auto due = clock_type::now();
      if (cfg.rate > 0) {
        // Open loop: request n of this worker is due at a fixed time.
        due = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(
                        double(n * uint64_t(cfg.concurrency) + uint64_t(w)) / cfg.rate));
        if (seconds_since(due) >= cfg.seconds) break;
        std::this_thread::sleep_until(due);
      } else if (seconds_since(due) >= cfg.seconds) {
        break;
      }
      auto op = cfg.mix.pick(rng);
      reply r;
      switch (op) {
        case op_kind::get: r = t.get("d" + std::to_string(rng() % cfg.docs)); break;
        case op_kind::search: r = t.search(data.query(rng() % data.query_count()), cfg.k); break;
        case op_kind::upsert: r = t.upsert(rng() % cfg.docs, 1, "u" + std::to_string(n)); break;
        case op_kind::batch:
          r = t.upsert(rng() % (cfg.docs > cfg.batch ? cfg.docs - cfg.batch : 1), cfg.batch,
                       "b" + std::to_string(n));
          break;
      }
      auto now = clock_type::now();
      out.push_back({float(seconds_since(due)), float(seconds_since(now)),
                     float(std::chrono::duration<double, std::milli>(now - due).count()), r.status,
                     op, r.served});
      done.fetch_add(1, std::memory_order_relaxed);
      if (r.status < 200 || r.status >= 300) errors.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < cfg.concurrency; ++w) threads.emplace_back(worker, w);
  std::atomic<bool> running{true};
  std::thread ticker{[&] {
    for (int s = 1; running; ++s) {
      auto next = start + std::chrono::seconds(s);
      while (running && clock_type::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (running) tick(double(s), done.load(), errors.load());
    }
  }};
  for (auto& t : threads) t.join();
  running = false;
  ticker.join();
  std::vector<sample> all;
  for (auto& v : per_worker) all.insert(all.end(), v.begin(), v.end());
  return all;
}

} // namespace lifeline::bench
