#include "io/files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

namespace lifeline::io {

backend_error io_error(const std::string& what) {
  return backend_error{errc::backend_error, what + ": " + std::strerror(errno)};
}

namespace {

expected<std::string> read_whole(const std::string& path, bool missing_ok) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && missing_ok && errno == ENOENT) return std::string{};
  if (fd < 0) return io_error("opening " + path);
  std::string data;
  char buf[1 << 16];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto err = io_error("reading " + path);
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    data.append(buf, size_t(n));
  }
  ::close(fd);
  return data;
}

} // namespace

expected<std::string> read_file(const std::string& path) { return read_whole(path, false); }

expected<std::string> read_file_if_exists(const std::string& path) {
  return read_whole(path, true);
}

expected<void> write_file_synced(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("creating " + path);
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    auto n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto err = io_error("writing " + path);
      ::close(fd);
      return err;
    }
    p += n;
    left -= size_t(n);
  }
  bool ok = ::fsync(fd) == 0;
  auto err = ok ? backend_error{} : io_error("syncing " + path);
  ::close(fd);
  if (!ok) return err;
  return {};
}

namespace {

expected<void> fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return io_error("opening " + path);
  bool ok = ::fsync(fd) == 0;
  auto err = ok ? backend_error{} : io_error("syncing " + path);
  ::close(fd);
  if (!ok) return err;
  return {};
}

} // namespace

expected<void> sync_file(const std::string& path) { return fsync_path(path, 0); }

expected<void> sync_dir(const std::string& path) { return fsync_path(path, O_DIRECTORY); }

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

std::vector<std::string> list_dir(const std::string& dir, std::string_view prefix) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string_view name{e->d_name};
      if (name.substr(0, prefix.size()) == prefix) out.emplace_back(name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace lifeline::io
