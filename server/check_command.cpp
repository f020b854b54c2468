#include "server/check_command.hpp"

#include "api/http_client.hpp"
#include "server/token_file.hpp"

#include <simdjson.h>

#include <chrono>
#include <iostream>
#include <thread>
#include <unistd.h>

namespace lifeline::server {

namespace {

uint64_t number(simdjson::dom::element e, const char* key) {
  uint64_t n = 0;
  if (e[key].get(n)) n = 0;
  return n;
}

/// One progress update: a bar redrawn in place on a terminal, a line per
/// change otherwise.
void show_progress(simdjson::dom::element status, bool tty, std::string& last) {
  auto p = status["progress"];
  auto done = number(p.value(), "collections_done"), total = number(p.value(), "collections_total");
  auto text = std::to_string(done) + "/" + std::to_string(total) + " collections, "
              + std::to_string(number(p.value(), "ids_compared")) + " ids, "
              + std::to_string(number(p.value(), "differences")) + " differences, "
              + std::to_string(number(p.value(), "repaired")) + " repaired";
  if (tty) {
    constexpr int width = 30;
    int filled = total ? int(width * done / total) : 0;
    std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] "
              << text << "   " << std::flush;
  } else if (text != last) {
    std::cerr << "check: " << text << "\n";
  }
  last = text;
}

int print_report(simdjson::dom::element root, bool repair) {
  std::string_view error;
  if (!root["error"].get(error) && !error.empty()) {
    std::cerr << "lifeline check: " << error << "\n";
    return 2;
  }
  bool consistent = false;
  if (root["consistent"].get(consistent)) consistent = false;
  std::cout << "backends:";
  for (auto b : root["backends"].get_array()) std::cout << " " << std::string_view{b.get_string()};
  std::cout << "\n";
  for (auto b : root["not_compared"].get_array())
    std::cout << "not compared: " << std::string_view{b.get_string()} << "\n";
  for (auto c : root["collections"].get_array()) {
    std::cout << std::string_view{c["name"].get_string()} << ":";
    for (auto [name, n] : c["counts"].get_object())
      std::cout << " " << name << "=" << uint64_t(n.get_uint64());
    bool ok = c["consistent"].get_bool();
    std::cout << (ok ? "  consistent" : "  DIFFERENT") << "\n";
    if (!ok) {
      std::cout << "  missing " << number(c, "missing") << ", versions differ "
                << number(c, "mismatched");
      if (repair) std::cout << ", repaired " << number(c, "repaired");
      std::cout << "\n";
      for (auto e : c["examples"].get_array())
        std::cout << "  " << std::string_view{e.get_string()} << "\n";
    }
  }
  auto differences = number(root, "differences"), repaired = number(root, "repaired");
  if (consistent) {
    std::cout << "consistent\n";
    return 0;
  }
  if (repair && repaired >= differences) {
    std::cout << "backends differed: " << differences << " differences, all repaired\n";
    return 0;
  }
  std::cout << "backends differ";
  if (repair) std::cout << ": " << differences << " differences, " << repaired << " repaired";
  std::cout << "\n";
  return 1;
}

} // namespace

int run_check(const check_options& options) {
  auto where = api::http_endpoint::parse(options.url);
  if (!where) {
    std::cerr << "lifeline check: --url must look like http://HOST:PORT\n";
    return 2;
  }
  auto token = read_token(options.token_file, "check");
  if (!token) return 2;
  api::http_client_options client_options;
  client_options.bearer_token = *token;
  client_options.request_timeout = std::chrono::seconds(30);
  bool tty = isatty(STDERR_FILENO) == 1;
  simdjson::dom::parser parser;
  try {
    api::http_client client{*where, client_options};
    auto started = client.request("POST", std::string{"/v1/admin/check"}
                                            + (options.repair ? "?repair=true" : ""));
    simdjson::dom::element root;
    std::string_view status_path;
    if (started.status != 202 || parser.parse(started.body).get(root)
        || root["status"].get(status_path)) {
      std::cerr << "lifeline check: HTTP " << started.status << ": " << started.body << "\n";
      return 2;
    }
    std::string path{status_path};
    std::string last;
    for (;;) {
      auto reply = client.request("GET", path);
      if (reply.status != 200 || parser.parse(reply.body).get(root)) {
        if (tty) std::cerr << "\n";
        std::cerr << "lifeline check: " << path << ": HTTP " << reply.status << ": " << reply.body
                  << "\n";
        return 2;
      }
      show_progress(root, tty, last);
      std::string_view state;
      if (!root["state"].get(state) && state == "done") break;
      std::this_thread::sleep_for(options.poll_interval);
    }
    if (tty) std::cerr << "\n";
    return print_report(root["report"].value(), options.repair);
  } catch (const api::http_error& e) {
    if (tty) std::cerr << "\n";
    std::cerr << "lifeline check: " << options.url << ": " << e.what() << "\n";
    return 2;
  } catch (const simdjson::simdjson_error& e) {
    std::cerr << "lifeline check: unexpected reply: " << e.what() << "\n";
    return 2;
  }
}

} // namespace lifeline::server
