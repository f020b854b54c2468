#include "support/server_process.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <sys/resource.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lifeline::testing {

http_client local_client(unsigned short port) { return http_client{"127.0.0.1", port}; }

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

std::optional<int> server_process::stop_within(std::chrono::seconds bound) {
  if (pid_ <= 0) return 0;
  ::kill(pid_, SIGTERM);
  auto until = std::chrono::steady_clock::now() + bound;
  int status = 0;
  // waitpid has no timeout: wait for the exit on a pidfd, bounded by poll.
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    if (fd < 0 || left.count() <= 0) {
      if (fd >= 0) ::close(fd);
      kill();
      return std::nullopt;
    }
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  if (fd >= 0) ::close(fd);
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
