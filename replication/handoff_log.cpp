#include "replication/handoff_log.hpp"

#include "backends/hnsw/binary_io.hpp"
#include "backends/hnsw/files.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <unistd.h>

namespace lifeline {

namespace {

using hnsw::reader;
using hnsw::writer;

constexpr size_t header_bytes = 8;
/// No entry is larger: a record claiming more is damage, not data.
constexpr uint32_t max_record_bytes = 1u << 30;

backend_error io_error(const std::string& what) {
  return backend_error{errc::backend_error, what + ": " + std::strerror(errno)};
}

std::string encode(const handoff_entry& e) {
  writer w;
  w.u8(uint8_t(e.op));
  w.str(e.collection);
  switch (e.op) {
    case handoff_entry::kind::create:
      w.u32(e.spec.dimension);
      w.u8(uint8_t(e.spec.metric));
      break;
    case handoff_entry::kind::drop: break;
    case handoff_entry::kind::upsert:
      w.u32(uint32_t(e.docs.size()));
      for (auto& d : e.docs) hnsw::put_document(w, d);
      break;
    case handoff_entry::kind::remove:
      w.str(e.id);
      w.u64(e.version);
      break;
  }
  return std::move(w.bytes());
}

std::optional<handoff_entry> decode(std::string_view payload) {
  reader r{payload};
  handoff_entry e;
  auto op = r.u8();
  auto collection = r.str();
  if (!op || !collection || *op < 1 || *op > 4) return std::nullopt;
  e.op = handoff_entry::kind{*op};
  e.collection = std::move(*collection);
  switch (e.op) {
    case handoff_entry::kind::create: {
      auto dim = r.u32();
      auto m = r.u8();
      if (!dim || !m || *m > 2) return std::nullopt;
      e.spec = collection_spec{e.collection, *dim, metric{*m}};
      break;
    }
    case handoff_entry::kind::drop: break;
    case handoff_entry::kind::upsert: {
      auto n = r.u32();
      if (!n) return std::nullopt;
      for (uint32_t i = 0; i < *n; ++i) {
        auto d = hnsw::get_document(r);
        if (!d) return std::nullopt;
        e.docs.push_back(std::move(*d));
      }
      break;
    }
    case handoff_entry::kind::remove: {
      auto id = r.str();
      auto version = r.u64();
      if (!id || !version) return std::nullopt;
      e.id = std::move(*id);
      e.version = *version;
      break;
    }
  }
  if (!r.ok() || !r.done()) return std::nullopt;
  return e;
}

expected<void> pread_all(int fd, char* out, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    auto got = ::pread(fd, out, n, off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return io_error("reading " + path);
    if (got == 0) return backend_error{errc::corrupt_response, path + " is shorter than expected"};
    out += got;
    n -= size_t(got);
    offset += uint64_t(got);
  }
  return {};
}

enum class record_status { ok, torn, damaged };

/// The record at `offset`: `torn` if it is cut short by the end of the file
/// (or is the last record and fails its checksum: an append a crash
/// interrupted), `damaged` if it fails its checksum with more data after it.
expected<record_status> read_record(int fd, uint64_t offset, uint64_t size,
                                    const std::string& path, std::string& payload) {
  if (size - offset < header_bytes) return record_status::torn;
  uint32_t header[2];
  if (auto ok = pread_all(fd, reinterpret_cast<char*>(header), header_bytes, offset, path); !ok)
    return ok.error();
  if (header[0] > size - offset - header_bytes) return record_status::torn;
  if (header[0] > max_record_bytes) return record_status::damaged;
  payload.assign(header[0], '\0');
  if (auto ok = pread_all(fd, payload.data(), payload.size(), offset + header_bytes, path); !ok)
    return ok.error();
  if (hnsw::crc32(payload.data(), payload.size()) == header[1]) return record_status::ok;
  bool last = offset + header_bytes + header[0] == size;
  return last ? record_status::torn : record_status::damaged;
}

std::string log_name(uint64_t generation) {
  return "hints-" + std::to_string(generation) + ".log";
}

} // namespace

expected<std::unique_ptr<handoff_log>> handoff_log::open(const std::string& directory) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return backend_error{errc::backend_error, "creating " + directory + ": " + ec.message()};
  uint64_t generation = 0, cursor = 0;
  if (std::filesystem::exists(directory + "/cursor")) {
    auto text = hnsw::read_file(directory + "/cursor");
    if (!text) return text.error();
    if (std::sscanf(text->c_str(), "%lu %lu", &generation, &cursor) != 2)
      return backend_error{errc::corrupt_response, directory + "/cursor is damaged"};
  }
  auto path = directory + "/" + log_name(generation);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("opening " + path);
  std::unique_ptr<handoff_log> log{new handoff_log(directory, fd)};
  log->generation_ = generation;
  log->cursor_ = cursor;
  if (auto ok = log->load(); !ok) return ok.error();
  // Logs of other generations: an emptied one not yet removed, or a new one
  // whose cursor was never stored (a crash while the log was rotated).
  for (auto& name : hnsw::list_dir(directory, "hints-"))
    if (name != log_name(generation)) std::filesystem::remove(directory + "/" + name, ec);
  return log;
}

handoff_log::handoff_log(std::string directory, int fd) : directory_(std::move(directory)), fd_(fd) {}

handoff_log::~handoff_log() { ::close(fd_); }

std::string handoff_log::path() const { return directory_ + "/" + log_name(generation_); }

expected<void> handoff_log::load() {
  auto file = path();
  auto end = ::lseek(fd_, 0, SEEK_END);
  if (end < 0) return io_error("sizing " + file);
  uint64_t file_size = uint64_t(end);
  if (cursor_ > file_size)
    return backend_error{errc::corrupt_response, file + " is shorter than its cursor"};
  uint64_t offset = cursor_;
  std::string payload;
  while (offset < file_size) {
    auto status = read_record(fd_, offset, file_size, file, payload);
    if (!status) return status.error();
    if (*status == record_status::damaged)
      return backend_error{errc::corrupt_response,
                           file + ": damaged record at byte " + std::to_string(offset)};
    if (*status == record_status::torn) break;
    offset += header_bytes + payload.size();
    ++pending_;
  }
  if (offset < file_size) {
    // Only the last append can be torn (each one is synced before the next),
    // and it was never acknowledged: cut it off.
    if (::ftruncate(fd_, off_t(offset)) != 0 || ::fdatasync(fd_) != 0)
      return io_error("cutting the torn tail of " + file);
  }
  size_ = offset;
  return {};
}

expected<void> handoff_log::append(const std::vector<handoff_entry>& entries) {
  std::string bytes;
  for (auto& e : entries) {
    auto payload = encode(e);
    if (payload.size() > max_record_bytes)
      return backend_error{errc::invalid_argument, "handoff entry is larger than 1 GiB"};
    uint32_t header[2] = {uint32_t(payload.size()), hnsw::crc32(payload.data(), payload.size())};
    bytes.append(reinterpret_cast<const char*>(header), header_bytes);
    bytes += payload;
  }
  auto file = path();
  auto fail = [&](const std::string& what) {
    auto err = io_error(what + " " + file);
    // Cut off whatever part was written, so that the next append follows
    // an intact record (best effort: a failure here is found at open).
    if (::ftruncate(fd_, off_t(size_)) == 0) ::fdatasync(fd_);
    return err;
  };
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, off_t(size_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing");
    done += size_t(n);
  }
  if (::fdatasync(fd_) != 0) return fail("syncing");
  size_ += bytes.size();
  pending_ += entries.size();
  return {};
}

expected<handoff_batch> handoff_log::peek(size_t max_entries, size_t max_bytes) const {
  handoff_batch batch;
  auto file = path();
  uint64_t offset = cursor_;
  size_t read = 0;
  std::string payload;
  while (offset < size_ && batch.entries.size() < max_entries && (read == 0 || read < max_bytes)) {
    auto status = read_record(fd_, offset, size_, file, payload);
    if (!status) return status.error();
    if (*status != record_status::ok)
      return backend_error{errc::corrupt_response, file + ": damaged record at byte " + std::to_string(offset)};
    auto entry = decode(payload);
    if (!entry)
      return backend_error{errc::corrupt_response, file + ": undecodable entry at byte " + std::to_string(offset)};
    batch.entries.push_back(std::move(*entry));
    offset += header_bytes + payload.size();
    read += header_bytes + payload.size();
  }
  batch.end_offset = offset;
  return batch;
}

expected<void> handoff_log::consume(uint64_t offset, size_t entries) {
  if (offset <= cursor_ || offset > size_) return {};
  if (offset < size_) {
    if (auto ok = store_cursor(generation_, offset); !ok) return ok;
    cursor_ = offset;
    pending_ = pending_ >= entries ? pending_ - entries : 0;
    return {};
  }
  // Everything is replayed: start an empty log of the next generation. The
  // cursor names the generation, so a crash at any point leaves either the
  // old log with its cursor or the new one (the other file is removed at
  // open); state here changes only once the new cursor is stored.
  auto next = directory_ + "/" + log_name(generation_ + 1);
  int fd = ::open(next.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("creating " + next);
  auto stored = store_cursor(generation_ + 1, 0);
  if (!stored) {
    ::close(fd);
    ::unlink(next.c_str());
    return stored;
  }
  ::unlink(path().c_str());
  ::close(fd_);
  fd_ = fd;
  ++generation_;
  size_ = cursor_ = pending_ = 0;
  return {};
}

expected<void> handoff_log::store_cursor(uint64_t generation, uint64_t offset) {
  auto tmp = directory_ + "/cursor.tmp";
  auto text = std::to_string(generation) + " " + std::to_string(offset);
  if (auto ok = hnsw::write_file_synced(tmp, text); !ok) return ok;
  if (::rename(tmp.c_str(), (directory_ + "/cursor").c_str()) != 0)
    return io_error("renaming " + tmp);
  return hnsw::sync_dir(directory_);
}

} // namespace lifeline
