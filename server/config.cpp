#include "server/config.hpp"

#include "core/limits.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <iterator>

namespace lifeline::server {

namespace {

config_error bad(std::string why) { return {std::move(why)}; }

template <class T>
std::optional<config_error> get_int(const toml::node& n, const std::string& key, T& out,
                                     int64_t min, int64_t max) {
  auto v = n.value<int64_t>();
  if (!v || *v < min || *v > max)
    return bad(key + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  out = T(*v);
  return std::nullopt;
}

std::optional<config_error> get_ms(const toml::node& n, const std::string& key,
                                    std::chrono::milliseconds& out) {
  int64_t ms = 0;
  if (auto err = get_int(n, key, ms, 1, 3600000)) return err;
  out = std::chrono::milliseconds(ms);
  return std::nullopt;
}

std::optional<config_error> get_string(const toml::node& n, const std::string& key, std::string& out) {
  auto v = n.value<std::string>();
  if (!v) return bad(key + " must be a string");
  out = *v;
  return std::nullopt;
}

std::optional<config_error> get_bool(const toml::node& n, const std::string& key, bool& out) {
  auto v = n.is_boolean() ? n.value<bool>() : std::nullopt; // value<bool> takes 1 too
  if (!v) return bad(key + " must be true or false");
  out = *v;
  return std::nullopt;
}

std::string setting_text(const toml::node& n) {
  if (auto s = n.value<std::string>()) return *s;
  // A list of strings (e.g. read_replicas) travels as one line each; a
  // value that cannot be told apart that way is refused by its backend.
  if (auto* list = n.as_array()) {
    std::string out;
    for (auto& item : *list) {
      auto s = item.value<std::string>();
      if (!s || s->find('\n') != std::string::npos) return "?";
      out += (out.empty() ? "" : "\n") + *s;
    }
    return list->empty() ? "" : out;
  }
  if (auto i = n.value<int64_t>()) return std::to_string(*i);
  if (auto b = n.value<bool>()) return *b ? "true" : "false";
  return "?";
}

} // namespace

expected<void, config_error> parse_listen(const std::string& text, options& opts) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("listen must be HOST:PORT, not '" + text + "'");
  unsigned port = 0;
  auto p = text.substr(colon + 1);
  auto r = std::from_chars(p.data(), p.data() + p.size(), port);
  if (r.ec != std::errc{} || r.ptr != p.data() + p.size() || port > 65535)
    return bad("listen: bad port in '" + text + "'");
  opts.host = text.substr(0, colon);
  if (opts.host.size() > 2 && opts.host.front() == '[') opts.host = opts.host.substr(1, opts.host.size() - 2);
  opts.port = uint16_t(port);
  return {};
}

expected<std::string, config_error> read_token_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) return bad("cannot read the token file " + path);
  std::string token{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  if (token.empty())
    return bad("the token file " + path + " is empty: refusing to start without authentication "
               "(remove the token setting to run without one)");
  for (unsigned char c : token)
    if (c <= 0x20 || c == 0x7f)
      return bad("the token file " + path + " holds white space or a control character inside the token");
  return token;
}

expected<void, config_error> load_file(const std::string& path, options& opts) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return bad(path + ": " + std::string{e.description()});
  }
  for (auto&& [k, node] : doc) {
    std::string key{k.str()};
    std::optional<config_error> err;
    if (key == "listen") {
      std::string text;
      err = get_string(node, key, text);
      if (!err)
        if (auto ok = parse_listen(text, opts); !ok) err = ok.error();
    } else if (key == "data_dir") err = get_string(node, key, opts.data_dir);
    else if (key == "handoff_dir") err = get_string(node, key, opts.handoff_dir);
    else if (key == "handoff_limit_mb") err = get_int(node, key, opts.handoff_limit_mb, 0, int64_t(1) << 30);
    else if (key == "handoff_segment_mb") err = get_int(node, key, opts.handoff_segment_mb, 1, 4096);
    else if (key == "disk_free_warn_mb") err = get_int(node, key, opts.disk_free_warn_mb, 0, int64_t(1) << 30);
    else if (key == "handoff_load_timeout_ms") err = get_ms(node, key, opts.handoff_load_timeout);
    else if (key == "log_level") err = get_string(node, key, opts.log_level);
    else if (key == "log_format") err = get_string(node, key, opts.log_format);
    else if (key == "body_limit_bytes") err = get_int(node, key, opts.body_limit, 1024, int64_t(1) << 31);
    else if (key == "max_batch") err = get_int(node, key, opts.max_batch, 1, max_batch_limit);
    else if (key == "http_threads") err = get_int(node, key, opts.http_threads, 1, 256);
    else if (key == "token_file") err = get_string(node, key, opts.token_file);
    else if (key == "admin_token_file") err = get_string(node, key, opts.admin_token_file);
    else if (key == "max_connections") err = get_int(node, key, opts.max_connections, 1, 1000000);
    else if (key == "fd_reserve") err = get_int(node, key, opts.fd_reserve, 16, 1000000);
    else if (key == "idle_timeout_ms") err = get_ms(node, key, opts.idle_timeout);
    else if (key == "header_timeout_ms") err = get_ms(node, key, opts.header_timeout);
    else if (key == "body_timeout_ms") err = get_ms(node, key, opts.body_timeout);
    else if (key == "min_body_rate_bytes") err = get_int(node, key, opts.min_body_rate, 1, int64_t(1) << 30);
    else if (key == "max_in_flight") err = get_int(node, key, opts.max_in_flight, 0, 1000000);
    else if (key == "backend_max_in_flight") err = get_int(node, key, opts.backend_max_in_flight, 0, 1000000);
    else if (key == "request_timeout_ms") err = get_ms(node, key, opts.request_timeout);
    else if (key == "attempt_timeout_ms") err = get_ms(node, key, opts.attempt_timeout);
    else if (key == "write_grace_ms") err = get_ms(node, key, opts.write_grace);
    else if (key == "probe_interval_ms") err = get_ms(node, key, opts.probe_interval);
    else if (key == "repair_interval_ms") {
      int64_t ms = 0; // 0 turns background repair off
      err = get_int(node, key, ms, 0, int64_t(7) * 24 * 3600 * 1000);
      if (!err) opts.repair_interval = std::chrono::milliseconds{ms};
    } else if (key == "repair_rate") err = get_int(node, key, opts.repair_rate, 0, 1000000);
    else if (key == "probe_timeout_ms") err = get_ms(node, key, opts.probe_timeout);
    else if (key == "hedging") err = get_bool(node, key, opts.hedging);
    else if (key == "hedge_budget_percent") err = get_int(node, key, opts.hedge_budget_percent, 0, 100);
    else if (key == "outlier_factor") err = get_int(node, key, opts.outlier_factor, 0, 1000);
    else if (key == "breaker_failures") err = get_int(node, key, opts.breaker_failures, 1, 1000);
    else if (key == "breaker_open_ms") err = get_ms(node, key, opts.breaker_open);
    else if (key == "shutdown_drain_ms") err = get_ms(node, key, opts.shutdown_drain);
    else if (key == "shutdown_grace_ms") err = get_ms(node, key, opts.shutdown_grace);
    else if (key == "cluster") {
      auto* table = node.as_table();
      if (!table) return bad(path + ": cluster must be a table ([cluster])");
      for (auto&& [ck, cv] : *table) {
        std::string ckey{ck.str()};
        if (ckey == "node") err = get_string(cv, "cluster.node", opts.node);
        else if (ckey == "etcd") {
          opts.etcd.clear();
          auto text = setting_text(cv); // a string, or a list of them
          for (size_t at = 0; !err && at <= text.size();) {
            auto eol = std::min(text.find('\n', at), text.size());
            auto url = text.substr(at, eol - at);
            if (url.empty() || url == "?") err = config_error{"cluster.etcd must be a URL or a list of URLs"};
            else opts.etcd.push_back(url);
            at = eol + 1;
          }
        } else if (ckey == "listen") {
          err = get_string(cv, "cluster.listen", opts.cluster_listen);
        } else if (ckey == "peers") {
          opts.peers.clear();
          auto text = setting_text(cv); // a string, or a list of them
          for (size_t at = 0; !err && at < text.size();) {
            auto eol = std::min(text.find('\n', at), text.size());
            auto name = text.substr(at, eol - at);
            if (name.empty() || name == "?") err = config_error{"cluster.peers must be a list of node names"};
            else opts.peers.push_back(name);
            at = eol + 1;
          }
        } else if (ckey == "leader_lease_s") {
          int64_t s = 0;
          err = get_int(cv, "cluster.leader_lease_s", s, 2, 600);
          if (!err) opts.leader_lease = std::chrono::seconds{s};
        } else {
          return bad(path + ": unknown key 'cluster." + ckey + "'");
        }
        if (err) break;
      }
    } else if (key == "backends") {
      auto* list = node.as_array();
      if (!list) return bad(path + ": backends must be an array of tables ([[backends]])");
      opts.backends.clear();
      for (auto&& item : *list) {
        auto* t = item.as_table();
        if (!t) return bad(path + ": each [[backends]] entry must be a table");
        backend_entry b;
        for (auto&& [bk, bv] : *t) {
          std::string bkey{bk.str()};
          std::optional<config_error> berr;
          if (bkey == "name") berr = get_string(bv, "backends.name", b.name);
          else if (bkey == "kind") berr = get_string(bv, "backends.kind", b.kind);
          else if (bkey == "priority") berr = get_int(bv, "backends.priority", b.priority, 0, 1000000);
          else if (bkey == "handoff_limit_mb") {
            uint64_t mb = 0;
            berr = get_int(bv, "backends.handoff_limit_mb", mb, 0, int64_t(1) << 30);
            b.handoff_limit_mb = mb;
          }
          else b.settings[bkey] = setting_text(bv);
          if (berr) return bad(path + ": " + berr->message);
        }
        if (b.name.empty()) return bad(path + ": every backend needs a name");
        if (!find_backend_kind(b.kind))
          return bad(path + ": backend '" + b.name + "': unknown kind '" + b.kind + "'");
        opts.backends.push_back(std::move(b));
      }
      std::stable_sort(opts.backends.begin(), opts.backends.end(),
                       [](auto& a, auto& b) { return a.priority < b.priority; });
    } else {
      return bad(path + ": unknown key '" + key + "'");
    }
    if (err) return bad(path + ": " + err->message);
  }
  return {};
}

} // namespace lifeline::server
