#include "cluster/etcd_client.hpp"

#include "api/http_client.hpp"

#include <simdjson.h>

#include <charconv>

namespace lifeline::cluster {

namespace {

constexpr std::string_view alphabet =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

backend_error bad_reply(const std::string& what) {
  return {errc::corrupt_response, "etcd: unexpected reply: " + what};
}

/// A 64-bit number the gateway sends as a JSON string (absent: 0, as proto3
/// leaves out zero values).
int64_t number_of(simdjson::dom::object o, std::string_view key) {
  auto field = o[key];
  if (field.error()) return 0;
  std::string_view text;
  if (!field.get(text)) {
    int64_t n = 0;
    std::from_chars(text.data(), text.data() + text.size(), n);
    return n;
  }
  int64_t n = 0;
  return field.get(n) ? 0 : n;
}

std::optional<etcd_kv> kv_of(simdjson::dom::object o) {
  etcd_kv kv;
  std::string_view key, value;
  if (o["key"].get(key)) return std::nullopt;
  auto k = base64_decode(key);
  if (!k) return std::nullopt;
  kv.key = *k;
  if (!o["value"].get(value)) {
    auto v = base64_decode(value);
    if (!v) return std::nullopt;
    kv.value = *v;
  }
  kv.create_revision = number_of(o, "create_revision");
  kv.mod_revision = number_of(o, "mod_revision");
  kv.version = number_of(o, "version");
  kv.lease = number_of(o, "lease");
  return kv;
}

/// The first kv of a range response (nullopt: none).
expected<std::optional<etcd_kv>> first_kv(simdjson::dom::object range) {
  simdjson::dom::array kvs;
  if (range["kvs"].get(kvs)) return std::optional<etcd_kv>{};
  for (auto item : kvs) {
    simdjson::dom::object o;
    if (item.get(o)) return bad_reply("a kv is not an object");
    auto kv = kv_of(o);
    if (!kv) return bad_reply("a kv without a valid key or value");
    return std::optional<etcd_kv>{std::move(*kv)};
  }
  return std::optional<etcd_kv>{};
}

std::string json_string(std::string_view s) { return "\"" + std::string{s} + "\""; }

} // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t n = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; ++j) {
      char c = in[i + j];
      uint32_t v = 0;
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        ++pad;
      } else {
        if (pad > 0) return std::nullopt; // data after padding
        auto at = alphabet.find(c);
        if (at == std::string_view::npos) return std::nullopt;
        v = uint32_t(at);
      }
      n = (n << 6) | v;
    }
    out += char((n >> 16) & 255);
    if (pad < 2) out += char((n >> 8) & 255);
    if (pad < 1) out += char(n & 255);
  }
  return out;
}

struct etcd_client::impl {
  std::vector<api::http_endpoint> endpoints;
  std::chrono::milliseconds timeout;
  size_t current = 0;
  std::unique_ptr<api::http_client> client;
  simdjson::dom::parser parser;
};

etcd_client::etcd_client(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
  : impl_(std::make_unique<impl>()) {
  for (auto& e : endpoints)
    if (auto where = api::http_endpoint::parse(e)) impl_->endpoints.push_back(*where);
  impl_->timeout = timeout;
}

etcd_client::~etcd_client() = default;

expected<std::string> etcd_client::post(const std::string& path, const std::string& body) {
  auto& d = *impl_;
  if (d.endpoints.empty()) return backend_error{errc::invalid_argument, "etcd: no valid endpoint"};
  std::string failures;
  for (size_t tried = 0; tried < d.endpoints.size(); ++tried) {
    if (!d.client) {
      api::http_client_options opts;
      opts.connect_timeout = d.timeout;
      opts.request_timeout = d.timeout;
      d.client = std::make_unique<api::http_client>(d.endpoints[d.current], opts);
    }
    try {
      auto r = d.client->request("POST", path, body);
      if (r.status == 200) return std::move(r.body);
      return backend_error{r.status >= 500 ? errc::backend_unavailable : errc::backend_error,
                           "etcd " + path + ": HTTP " + std::to_string(r.status) + " " + r.body};
    } catch (const api::http_error& e) {
      failures += (failures.empty() ? "" : "; ") + d.client->host() + ":"
                  + std::to_string(d.client->port()) + ": " + e.what();
      d.client.reset();
      d.current = (d.current + 1) % d.endpoints.size();
    }
  }
  return backend_error{errc::backend_unavailable, "etcd unreachable: " + failures};
}

expected<int64_t> etcd_client::grant(std::chrono::seconds ttl) {
  auto body = post("/v3/lease/grant", "{\"TTL\":\"" + std::to_string(ttl.count()) + "\"}");
  if (!body) return body.error();
  simdjson::dom::object o;
  if (impl_->parser.parse(*body).get(o)) return bad_reply(*body);
  auto id = number_of(o, "ID");
  if (id == 0) return bad_reply(*body);
  return id;
}

expected<int64_t> etcd_client::keepalive(int64_t lease) {
  auto body = post("/v3/lease/keepalive", "{\"ID\":\"" + std::to_string(lease) + "\"}");
  if (!body) return body.error();
  simdjson::dom::object o, result;
  if (impl_->parser.parse(*body).get(o) || o["result"].get(result)) return bad_reply(*body);
  return std::max<int64_t>(number_of(result, "TTL"), 0);
}

expected<void> etcd_client::revoke(int64_t lease) {
  auto body = post("/v3/lease/revoke", "{\"ID\":\"" + std::to_string(lease) + "\"}");
  if (!body) return body.error();
  return {};
}

expected<std::optional<etcd_kv>> etcd_client::get(const std::string& key) {
  auto body = post("/v3/kv/range", "{\"key\":" + json_string(base64_encode(key)) + "}");
  if (!body) return body.error();
  simdjson::dom::object o;
  if (impl_->parser.parse(*body).get(o)) return bad_reply(*body);
  return first_kv(o);
}

expected<etcd_txn_result> etcd_client::txn(const std::vector<etcd_compare>& compares,
                                           const std::vector<etcd_put>& puts,
                                           const std::vector<std::string>& read_on_failure) {
  std::string body = "{\"compare\":[";
  for (size_t i = 0; i < compares.size(); ++i) {
    auto& c = compares[i];
    body += std::string{i ? "," : ""} + "{\"key\":" + json_string(base64_encode(c.key))
            + ",\"result\":\"EQUAL\",";
    switch (c.what) {
      case etcd_compare::field::create_revision:
        body += "\"target\":\"CREATE\",\"create_revision\":" + json_string(std::to_string(c.revision));
        break;
      case etcd_compare::field::mod_revision:
        body += "\"target\":\"MOD\",\"mod_revision\":" + json_string(std::to_string(c.revision));
        break;
      case etcd_compare::field::value:
        body += "\"target\":\"VALUE\",\"value\":" + json_string(base64_encode(c.value));
        break;
    }
    body += "}";
  }
  body += "],\"success\":[";
  for (size_t i = 0; i < puts.size(); ++i)
    body += std::string{i ? "," : ""} + "{\"request_put\":{\"key\":" + json_string(base64_encode(puts[i].key))
            + ",\"value\":" + json_string(base64_encode(puts[i].value))
            + (puts[i].lease ? ",\"lease\":" + json_string(std::to_string(puts[i].lease)) : "") + "}}";
  body += "],\"failure\":[";
  for (size_t i = 0; i < read_on_failure.size(); ++i)
    body += std::string{i ? "," : ""} + "{\"request_range\":{\"key\":"
            + json_string(base64_encode(read_on_failure[i])) + "}}";
  body += "]}";
  auto reply = post("/v3/kv/txn", body);
  if (!reply) return reply.error();
  simdjson::dom::object o;
  if (impl_->parser.parse(*reply).get(o)) return bad_reply(*reply);
  etcd_txn_result out;
  bool succeeded = false;
  out.succeeded = !o["succeeded"].get(succeeded) && succeeded;
  simdjson::dom::object header;
  if (!o["header"].get(header)) out.revision = number_of(header, "revision");
  if (out.succeeded) return out;
  simdjson::dom::array responses;
  if (o["responses"].get(responses)) {
    out.read.resize(read_on_failure.size());
    return out;
  }
  for (auto r : responses) {
    simdjson::dom::object range;
    if (r["response_range"].get(range)) return bad_reply(*reply);
    auto kv = first_kv(range);
    if (!kv) return kv.error();
    out.read.push_back(std::move(*kv));
  }
  return out;
}

} // namespace lifeline::cluster
