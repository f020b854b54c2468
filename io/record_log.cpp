#include "io/record_log.hpp"

#include "io/checksum.hpp"
#include "io/files.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace lifeline::io {

namespace {

/// Bytes read at a time (more if one record is larger).
constexpr size_t read_chunk = size_t{1} << 20;

backend_error corrupt(const std::string& what) { return {errc::corrupt_response, what}; }

bool pwrite_all(int fd, const char* p, size_t n, uint64_t offset) {
  while (n > 0) {
    auto w = ::pwrite(fd, p, n, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= size_t(w);
    offset += uint64_t(w);
  }
  return true;
}

// -- test hook: injected sync failures (see test_hooks in the header) -------

std::mutex sync_hook_mutex;
std::shared_ptr<const test_hooks::sync_hook> sync_hook_fn;
std::atomic<bool> sync_hook_set{false};

/// fdatasync, unless a test hook says this sync fails (errno set either way).
int sync_fd(int fd, const std::string& path) {
  if (sync_hook_set.load(std::memory_order_acquire)) {
    std::shared_ptr<const test_hooks::sync_hook> hook;
    {
      std::lock_guard guard{sync_hook_mutex};
      hook = sync_hook_fn;
    }
    if (hook && *hook) {
      if (int err = (*hook)(path); err != 0) {
        errno = err;
        return -1;
      }
    }
  }
  return ::fdatasync(fd);
}

} // namespace

void test_hooks::set_sync_hook(sync_hook hook) {
  std::lock_guard guard{sync_hook_mutex};
  bool set = bool(hook);
  sync_hook_fn = set ? std::make_shared<const sync_hook>(std::move(hook)) : nullptr;
  sync_hook_set.store(set, std::memory_order_release);
}

void append_frame(std::string& out, std::string_view payload) {
  uint32_t header[2] = {uint32_t(payload.size()), crc32(payload)};
  out.append(reinterpret_cast<const char*>(header), record_header_bytes);
  out.append(payload);
}

std::string_view to_string(log_tail t) {
  switch (t) {
    case log_tail::clean: return "clean";
    case log_tail::torn: return "torn";
    case log_tail::damaged: return "damaged";
  }
  return "?";
}

// -- record_reader -------------------------------------------------------------

record_reader::record_reader(int fd, uint64_t from, uint64_t end, uint32_t max_record_bytes)
  : fd_(fd), pos_(from), end_(std::max(from, end)), max_record_bytes_(max_record_bytes) {}

expected<void> record_reader::fill(uint64_t offset, size_t n) {
  if (offset >= buf_offset_ && offset + n <= buf_offset_ + buf_.size()) return {};
  // Keep what is buffered from `offset` on, then read up to a chunk more.
  if (offset >= buf_offset_ && offset < buf_offset_ + buf_.size())
    buf_.erase(0, size_t(offset - buf_offset_));
  else buf_.clear();
  buf_offset_ = offset;
  size_t want = size_t(std::min<uint64_t>(std::max(n, read_chunk), end_ - offset));
  size_t have = buf_.size();
  buf_.resize(want);
  while (have < want) {
    auto got = ::pread(fd_, buf_.data() + have, want - have, off_t(offset + have));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return io_error("reading a log");
    if (got == 0) return corrupt("a log is shorter than expected (changed while read?)");
    have += size_t(got);
  }
  return {};
}

expected<bool> record_reader::zeros_to_end(uint64_t offset) {
  while (offset < end_) {
    size_t n = size_t(std::min<uint64_t>(read_chunk, end_ - offset));
    if (auto ok = fill(offset, n); !ok) return ok.error();
    auto* p = buf_.data() + (offset - buf_offset_);
    if (std::any_of(p, p + n, [](char c) { return c != '\0'; })) return false;
    offset += n;
  }
  return true;
}

bool record_reader::stop(log_tail tail, std::string reason) {
  done_ = true;
  tail_ = tail;
  reason_ = std::move(reason);
  payload_ = {};
  return false;
}

expected<bool> record_reader::next() {
  if (done_) return false;
  uint64_t rest = end_ - pos_;
  if (rest == 0) return stop(log_tail::clean, "");
  if (rest < record_header_bytes) return stop(log_tail::torn, "incomplete header");
  if (auto ok = fill(pos_, record_header_bytes); !ok) return ok.error();
  uint32_t header[2];
  std::memcpy(header, buf_.data() + (pos_ - buf_offset_), record_header_bytes);
  uint32_t len = header[0];
  if (len == 0) {
    // A zero-filled tail (the file grew but its data never landed) is torn;
    // a zero header before real data is damage.
    auto zeros = zeros_to_end(pos_);
    if (!zeros) return zeros.error();
    return *zeros ? stop(log_tail::torn, "zero-filled tail")
                  : stop(log_tail::damaged, "empty record");
  }
  if (len > rest - record_header_bytes) return stop(log_tail::torn, "incomplete record");
  if (len > max_record_bytes_) return stop(log_tail::damaged, "impossible length");
  if (auto ok = fill(pos_, record_header_bytes + len); !ok) return ok.error();
  std::string_view payload{buf_.data() + (pos_ - buf_offset_) + record_header_bytes, len};
  if (crc32(payload) != header[1]) {
    return record_header_bytes + len == rest
             ? stop(log_tail::torn, "checksum mismatch")
             : stop(log_tail::damaged, "checksum mismatch before its end");
  }
  payload_ = payload;
  offset_ = pos_;
  pos_ += record_header_bytes + len;
  return true;
}

// -- record_log ------------------------------------------------------------------

expected<std::unique_ptr<record_log>> record_log::open(const std::string& path,
                                                       record_log_options options, uint64_t from,
                                                       const record_fn& on_record,
                                                       log_scan* scan) {
  if (options.label.empty()) options.label = path;
  const auto& label = options.label;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("opening " + path);
  auto fail = [fd](backend_error e) {
    ::close(fd);
    return e;
  };
  auto end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) return fail(io_error("sizing " + path));
  if (from > uint64_t(end))
    return fail(corrupt(label + " ends at byte " + std::to_string(end)
                        + ", before the offset it is read from (" + std::to_string(from) + ")"));
  record_reader reader{fd, from, uint64_t(end), options.max_record_bytes};
  log_scan found;
  for (;;) {
    auto more = reader.next();
    if (!more) return fail(more.error());
    if (!*more) break;
    if (auto ok = on_record(reader.offset(), reader.payload()); !ok) return fail(ok.error());
    ++found.records;
  }
  found.end = reader.position();
  found.tail = reader.tail();
  found.reason = reader.reason();
  if (scan) *scan = found;
  if (found.tail == log_tail::damaged)
    return fail(corrupt(label + " is corrupt at byte " + std::to_string(found.end) + " ("
                        + found.reason + ")"));
  // Only the last append can be torn, and it was never acknowledged: new
  // records go right after the last intact one.
  if (found.end != uint64_t(end) && ::ftruncate(fd, off_t(found.end)) != 0)
    return fail(io_error("cutting the torn end of " + label));
  // What was just read (and acted on) must not vanish in a power loss.
  if (sync_fd(fd, path) != 0) return fail(io_error("syncing " + label));
  return std::unique_ptr<record_log>{new record_log(path, fd, found.end, std::move(options))};
}

expected<std::unique_ptr<record_log>> record_log::create(const std::string& path,
                                                         record_log_options options) {
  if (options.label.empty()) options.label = path;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("creating " + path);
  return std::unique_ptr<record_log>{new record_log(path, fd, 0, std::move(options))};
}

record_log::record_log(std::string path, int fd, uint64_t size, record_log_options options)
  : path_(std::move(path)), fd_(fd), options_(std::move(options)), size_(size) {
  if (options_.mode == sync_mode::interval)
    interval_thread_ = std::thread{[this] { interval_loop(); }};
}

record_log::~record_log() {
  {
    std::lock_guard guard{mutex_};
    stopping_ = true;
    cv_.notify_all();
  }
  if (interval_thread_.joinable()) interval_thread_.join();
  sync_fd(fd_, path_);
  ::close(fd_);
}

void record_log::interval_loop() {
  std::unique_lock guard{mutex_};
  while (!stopping_) {
    cv_.wait_for(guard, options_.interval);
    auto target = appended_;
    guard.unlock();
    bool ok = sync_fd(fd_, path_) == 0;
    guard.lock();
    if (ok) synced_ = std::max(synced_, target);
  }
}

expected<void> record_log::check_payload(std::string_view payload) const {
  if (payload.empty())
    return backend_error{errc::invalid_argument, label() + ": an empty record cannot be logged"};
  if (payload.size() > options_.max_record_bytes)
    return backend_error{errc::invalid_argument,
                         label() + ": a record of " + std::to_string(payload.size())
                           + " bytes is over the limit of "
                           + std::to_string(options_.max_record_bytes)};
  return {};
}

expected<uint64_t> record_log::append(std::string_view payload) {
  if (auto ok = check_payload(payload); !ok) return ok.error();
  std::string bytes;
  bytes.reserve(record_header_bytes + payload.size());
  append_frame(bytes, payload);
  return append_bytes(bytes, 1);
}

expected<uint64_t> record_log::append(const std::vector<std::string>& payloads) {
  size_t total = 0;
  for (auto& p : payloads) {
    if (auto ok = check_payload(p); !ok) return ok.error();
    total += record_header_bytes + p.size();
  }
  std::string bytes;
  bytes.reserve(total);
  for (auto& p : payloads) append_frame(bytes, p);
  return append_bytes(bytes, payloads.size());
}

expected<uint64_t> record_log::append_bytes(const std::string& bytes, size_t records) {
  std::lock_guard guard{mutex_};
  if (!failure_.empty()) return backend_error{errc::backend_error, failure_};
  if (records == 0) return appended_;
  bool cut_back = options_.on_failure == failure_policy::cut_back;
  // Leaves no partial record behind: the append is refused whole.
  auto undo = [&](backend_error err) {
    bool cut = ::ftruncate(fd_, off_t(size_)) == 0;
    if (cut_back) {
      if (cut) sync_fd(fd_, path_); // best effort: a failure here is found at open
    } else if (!cut) {
      failure_ = err.message + " (and the partial record could not be removed)";
    }
    return err;
  };
  if (!pwrite_all(fd_, bytes.data(), bytes.size(), size_))
    return undo(io_error("appending to " + label()));
  if (options_.mode == sync_mode::per_write && sync_fd(fd_, path_) != 0) {
    auto err = io_error("syncing " + label());
    if (cut_back) return undo(err);
    failure_ = err.message;
    size_ += bytes.size(); // in the file, but never acknowledged
    appended_ += records;
    return err;
  }
  size_ += bytes.size();
  appended_ += records;
  if (options_.mode == sync_mode::per_write) synced_ = appended_;
  return appended_;
}

expected<void> record_log::sync(uint64_t ticket) {
  if (options_.mode != sync_mode::group) return {};
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
    bool ok = sync_fd(fd_, path_) == 0;
    auto err = ok ? std::string{} : io_error("syncing " + label()).message;
    guard.lock();
    syncing_ = false;
    if (ok) synced_ = std::max(synced_, target);
    else failure_ = err;
    cv_.notify_all();
  }
  return {};
}

expected<void> record_log::sync_all() {
  uint64_t last;
  {
    std::lock_guard guard{mutex_};
    if (!failure_.empty()) return backend_error{errc::backend_error, failure_};
    last = appended_;
  }
  return sync(last);
}

expected<void> record_log::truncate() {
  std::lock_guard guard{mutex_};
  if (::ftruncate(fd_, 0) != 0) return io_error("truncating " + label());
  size_ = 0;
  if (sync_fd(fd_, path_) != 0) {
    failure_ = io_error("syncing the truncated " + label()).message;
    return backend_error{errc::backend_error, failure_};
  }
  synced_ = appended_;
  return {};
}

record_reader record_log::read_from(uint64_t offset) const {
  std::lock_guard guard{mutex_};
  return record_reader{fd_, offset, size_, options_.max_record_bytes};
}

uint64_t record_log::size_bytes() const {
  std::lock_guard guard{mutex_};
  return size_;
}

std::string record_log::failure() const {
  std::lock_guard guard{mutex_};
  return failure_;
}

} // namespace lifeline::io
