#include "server/check_command.hpp"

#include "api/http_client.hpp"

#include <simdjson.h>

#include <chrono>
#include <fstream>
#include <iostream>

namespace lifeline::server {

int run_check(const std::string& url, const std::string& token_file) {
  auto where = api::http_endpoint::parse(url);
  if (!where) {
    std::cerr << "lifeline check: --url must look like http://HOST:PORT\n";
    return 2;
  }
  std::string token;
  if (!token_file.empty()) {
    std::ifstream in{token_file};
    if (!in || !std::getline(in, token)) {
      std::cerr << "lifeline check: cannot read " << token_file << "\n";
      return 2;
    }
  } else if (const char* env = std::getenv("LIFELINE_TOKEN")) {
    token = env;
  }
  api::http_client_options options;
  options.bearer_token = token;
  // The server gives the comparison ten minutes (it reads every id of every
  // backend); wait a little longer than that for its answer.
  options.request_timeout = std::chrono::minutes(11);
  api::http_response reply;
  try {
    reply = api::http_client{*where, options}.request("GET", "/v1/admin/check");
  } catch (const api::http_error& e) {
    std::cerr << "lifeline check: " << url << ": " << e.what() << "\n";
    return 2;
  }
  auto status = reply.status;
  auto& body = reply.body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body).get(root) || status == 401 || status == 404) {
    std::cerr << "lifeline check: HTTP " << status << ": " << body << "\n";
    return 2;
  }
  bool consistent = false;
  if (root["consistent"].get(consistent)) consistent = false;
  std::string_view error;
  if (!root["error"].get(error) && !error.empty()) {
    std::cerr << "lifeline check: " << error << "\n";
    return 2;
  }
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
      std::cout << "  missing " << uint64_t(c["missing"].get_uint64()) << ", versions differ "
                << uint64_t(c["mismatched"].get_uint64()) << "\n";
      for (auto e : c["examples"].get_array())
        std::cout << "  " << std::string_view{e.get_string()} << "\n";
    }
  }
  std::cout << (consistent ? "consistent" : "backends differ") << "\n";
  return consistent ? 0 : 1;
}

} // namespace lifeline::server
