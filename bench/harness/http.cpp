#include "harness/http.hpp"

#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace lifeline::bench {

api::http_client client_for(const std::string& url, const std::string& token) {
  auto where = api::http_endpoint::parse(url);
  if (!where) throw std::runtime_error("bad URL " + url + " (http://HOST:PORT)");
  api::http_client_options options;
  options.bearer_token = token;
  return api::http_client{*where, options};
}

api::http_response try_request(api::http_client& client, std::string method, std::string target,
                               std::string body) {
  try {
    return client.request(std::move(method), std::move(target), std::move(body));
  } catch (const api::http_error&) {
    return {}; // status 0; the client closed the connection
  }
}

server_child::server_child(const std::string& binary, std::vector<std::string> args) {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    std::vector<std::string> argv_s{binary, "serve", "--listen", "127.0.0.1:0"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  FILE* in = ::fdopen(out[0], "r");
  char line[256];
  while (std::fgets(line, sizeof line, in))
    if (std::sscanf(line, "lifeline: listening on http://127.0.0.1:%u", &port_) == 1) break;
  std::fclose(in);
  if (port_ == 0) throw std::runtime_error(binary + " serve did not start (see its log above)");
}

server_child::~server_child() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
}

} // namespace lifeline::bench
