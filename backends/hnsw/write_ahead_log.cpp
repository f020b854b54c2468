#include "backends/hnsw/write_ahead_log.hpp"

#include "backends/hnsw/binary_io.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lifeline::hnsw {

namespace {

constexpr size_t header_bytes = 8;
/// Larger records are refused (and a length field above this is damage).
constexpr uint32_t max_record_bytes = 256u << 20;

backend_error io_error(const std::string& what) {
  return backend_error{errc::backend_error, what + ": " + std::strerror(errno)};
}

expected<std::string> read_all(int fd) {
  std::string data;
  char buf[1 << 16];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("reading the log");
    }
    if (n == 0) return data;
    data.append(buf, size_t(n));
  }
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    auto w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
  }
  return true;
}

} // namespace

expected<std::unique_ptr<write_ahead_log>>
write_ahead_log::open(const std::string& path, log_config cfg, const replay_fn& replay,
                      const warn_fn& warn) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("opening " + path);
  auto data = read_all(fd);
  if (!data) {
    ::close(fd);
    return data.error();
  }
  std::string_view rest = *data;
  uint64_t good = 0;
  while (!rest.empty()) {
    auto torn = [&](const std::string& why) {
      warn("log " + path + ": dropping a torn last record at byte " + std::to_string(good) + " ("
           + why + ")");
      rest = {};
    };
    if (rest.size() < header_bytes) {
      torn("incomplete header");
      break;
    }
    uint32_t len, crc;
    std::memcpy(&len, rest.data(), 4);
    std::memcpy(&crc, rest.data() + 4, 4);
    if (len == 0) {
      // A zero-filled tail (the file grew but its data never landed) is torn;
      // a zero header before real data is damage.
      if (rest.find_first_not_of('\0') == std::string_view::npos) {
        torn("zero-filled tail");
        break;
      }
      ::close(fd);
      return backend_error{errc::corrupt_response, "log " + path + " is corrupt at byte "
                                                  + std::to_string(good) + " (empty record)"};
    }
    if (len > rest.size() - header_bytes) {
      torn("incomplete record");
      break;
    }
    if (len > max_record_bytes) {
      ::close(fd);
      return backend_error{errc::corrupt_response, "log " + path + " is corrupt at byte "
                                                  + std::to_string(good) + " (impossible length)"};
    }
    auto payload = rest.substr(header_bytes, len);
    if (crc32(payload.data(), payload.size()) != crc) {
      if (header_bytes + len == rest.size()) {
        torn("checksum mismatch");
        break;
      }
      ::close(fd);
      return backend_error{errc::corrupt_response, "log " + path + " is corrupt at byte "
                                                  + std::to_string(good)
                                                  + " (checksum mismatch before its end)"};
    }
    if (auto ok = replay(payload); !ok) {
      ::close(fd);
      return backend_error{errc::corrupt_response, "log " + path + " at byte " + std::to_string(good)
                                                  + ": " + ok.error().message};
    }
    good += header_bytes + len;
    rest.remove_prefix(header_bytes + len);
  }
  // New records go right after the last intact one.
  if (good != data->size() && ::ftruncate(fd, off_t(good)) != 0) {
    auto err = io_error("cutting the torn end of " + path);
    ::close(fd);
    return err;
  }
  if (::lseek(fd, off_t(good), SEEK_SET) < 0 || ::fdatasync(fd) != 0) {
    auto err = io_error("opening " + path);
    ::close(fd);
    return err;
  }
  return std::unique_ptr<write_ahead_log>{new write_ahead_log(fd, good, cfg)};
}

write_ahead_log::write_ahead_log(int fd, uint64_t size, log_config cfg)
  : fd_(fd), cfg_(cfg), size_(size) {
  if (cfg_.mode == sync_mode::interval) interval_thread_ = std::thread{[this] { interval_loop(); }};
}

write_ahead_log::~write_ahead_log() {
  {
    std::lock_guard guard{mutex_};
    stopping_ = true;
    cv_.notify_all();
  }
  if (interval_thread_.joinable()) interval_thread_.join();
  ::fdatasync(fd_);
  ::close(fd_);
}

void write_ahead_log::interval_loop() {
  std::unique_lock guard{mutex_};
  while (!stopping_) {
    cv_.wait_for(guard, cfg_.interval);
    auto target = appended_;
    guard.unlock();
    bool ok = ::fdatasync(fd_) == 0;
    guard.lock();
    if (ok) synced_ = std::max(synced_, target);
  }
}

expected<uint64_t> write_ahead_log::append(std::string_view payload) {
  if (payload.size() > max_record_bytes)
    return backend_error{errc::invalid_argument, "write is too large for the log"};
  std::string record;
  record.resize(header_bytes);
  uint32_t len = uint32_t(payload.size());
  uint32_t crc = crc32(payload.data(), payload.size());
  std::memcpy(record.data(), &len, 4);
  std::memcpy(record.data() + 4, &crc, 4);
  record.append(payload);
  std::lock_guard guard{mutex_};
  if (!failure_.empty()) return backend_error{errc::backend_error, failure_};
  if (!write_all(fd_, record.data(), record.size())) {
    auto err = io_error("appending to the log");
    // Leave no partial record behind: the write is refused whole.
    if (::ftruncate(fd_, off_t(size_)) != 0 || ::lseek(fd_, off_t(size_), SEEK_SET) < 0)
      failure_ = err.message + " (and the partial record could not be removed)";
    return err;
  }
  size_ += record.size();
  ++appended_;
  if (cfg_.mode == sync_mode::per_write) {
    if (::fdatasync(fd_) != 0) {
      failure_ = io_error("syncing the log").message;
      return backend_error{errc::backend_error, failure_};
    }
    synced_ = appended_;
  }
  return appended_;
}

expected<void> write_ahead_log::sync(uint64_t ticket) {
  if (cfg_.mode != sync_mode::group) return {};
  std::unique_lock guard{mutex_};
  while (synced_ < ticket) {
    if (!failure_.empty()) return backend_error{errc::backend_error, failure_};
    if (syncing_) {
      cv_.wait(guard);
      continue;
    }
    // Lead a group: one fdatasync covers every record appended so far.
    syncing_ = true;
    auto target = appended_;
    guard.unlock();
    bool ok = ::fdatasync(fd_) == 0;
    auto err = ok ? std::string{} : io_error("syncing the log").message;
    guard.lock();
    syncing_ = false;
    if (ok) synced_ = std::max(synced_, target);
    else failure_ = err;
    cv_.notify_all();
  }
  return {};
}

expected<void> write_ahead_log::sync_all() {
  uint64_t last;
  {
    std::lock_guard guard{mutex_};
    if (!failure_.empty()) return backend_error{errc::backend_error, failure_};
    last = appended_;
  }
  return sync(last);
}

expected<void> write_ahead_log::truncate() {
  std::lock_guard guard{mutex_};
  if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) < 0)
    return io_error("truncating the log");
  size_ = 0;
  if (::fdatasync(fd_) != 0) {
    failure_ = io_error("syncing the truncated log").message;
    return backend_error{errc::backend_error, failure_};
  }
  synced_ = appended_;
  return {};
}

std::string write_ahead_log::failure() const {
  std::lock_guard guard{mutex_};
  return failure_;
}

uint64_t write_ahead_log::size_bytes() const {
  std::lock_guard guard{mutex_};
  return size_;
}

} // namespace lifeline::hnsw
