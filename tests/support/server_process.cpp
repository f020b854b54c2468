#include "support/server_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lifeline::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct http_client::impl {
  net::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  unsigned short port;
  bool connected = false;

  void connect() {
    if (connected) return;
    stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
    connected = true;
  }

  http_reply read_reply() {
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    stream.expires_after(std::chrono::seconds(60));
    http::read(stream, buffer, parser);
    auto res = parser.release();
    http_reply out;
    out.status = res.result_int();
    for (auto& f : res) {
      std::string name{f.name_string()};
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      out.headers[name] = std::string{f.value()};
    }
    out.body = res.body();
    if (!res.keep_alive()) {
      beast::error_code ignored;
      stream.socket().close(ignored);
      connected = false;
    }
    return out;
  }
};

http_client::http_client(unsigned short port) : impl_(std::make_unique<impl>()) {
  impl_->port = port;
}

http_client::~http_client() = default;

http_reply http_client::request(const std::string& method, const std::string& target,
                                const std::string& body,
                                const std::map<std::string, std::string>& headers) {
  impl_->connect();
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  req.keep_alive(true);
  impl_->stream.expires_after(std::chrono::seconds(60));
  http::write(impl_->stream, req);
  return impl_->read_reply();
}

http_reply http_client::raw(const std::string& bytes) {
  impl_->connect();
  net::write(impl_->stream.socket(), net::buffer(bytes));
  return impl_->read_reply();
}

server_process::server_process(std::vector<std::string> args, process_options options) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    if (options.max_files > 0) {
      rlimit rl{options.max_files, options.max_files};
      if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) ::_exit(126);
    }
    std::vector<std::string> argv_s{LIFELINE_SERVER, "serve", "--listen", "127.0.0.1:0"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(LIFELINE_SERVER, argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  FILE* in = ::fdopen(out[0], "r");
  char line[256];
  while (std::fgets(line, sizeof line, in)) {
    unsigned port = 0;
    if (std::sscanf(line, "lifeline: listening on http://127.0.0.1:%u", &port) == 1) {
      port_ = static_cast<unsigned short>(port);
      break;
    }
  }
  std::fclose(in);
  INFO("the server did not start (see its log above)");
  REQUIRE(port_ != 0);
}

int server_process::stop() {
  if (pid_ <= 0) return 0;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void server_process::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

server_process::~server_process() { stop(); }

start_failure run_server_expecting_failure(std::vector<std::string> args, unsigned bound_seconds) {
  std::string cmd = "timeout " + std::to_string(bound_seconds) + " '" + std::string{LIFELINE_SERVER}
                    + "' serve --listen 127.0.0.1:0";
  for (auto& a : args) cmd += " '" + a + "'"; // test arguments hold no quote
  cmd += " 2>&1";
  start_failure out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.output.append(buf, n);
  int status = ::pclose(p);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

} // namespace lifeline::testing
