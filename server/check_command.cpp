#include "server/check_command.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <simdjson.h>

#include <fstream>
#include <iostream>

namespace lifeline::server {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct target {
  std::string host, port;
};

bool parse_url(const std::string& url, target& t) {
  std::string rest = url;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  else if (rest.find("://") != std::string::npos) return false; // http only
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  t.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  t.port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  return !t.host.empty();
}

} // namespace

int run_check(const std::string& url, const std::string& token_file) {
  target t;
  if (!parse_url(url, t)) {
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
  std::string body;
  unsigned status = 0;
  try {
    boost::asio::io_context io;
    tcp::resolver resolver{io};
    beast::tcp_stream stream{io};
    stream.connect(resolver.resolve(t.host, t.port));
    http::request<http::empty_body> req{http::verb::get, "/v1/admin/check", 11};
    req.set(http::field::host, t.host);
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(stream, buffer, parser);
    status = parser.get().result_int();
    body = parser.get().body();
  } catch (const std::exception& e) {
    std::cerr << "lifeline check: " << url << ": " << e.what() << "\n";
    return 2;
  }
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
