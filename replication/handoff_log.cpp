#include "replication/handoff_log.hpp"

#include "io/atomic_file.hpp"
#include "io/document_codec.hpp"
#include "io/files.hpp"
#include "io/record_log.hpp"

#include <algorithm>
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <unistd.h>

namespace lifeline {

namespace {

using io::reader;
using io::writer;

/// No entry is larger: a record claiming more is damage, not data.
constexpr uint32_t max_record_bytes = 1u << 30;

io::record_log_options log_options(const std::string& file) {
  io::record_log_options o;
  o.mode = io::sync_mode::per_write;
  o.on_failure = io::failure_policy::cut_back;
  o.max_record_bytes = max_record_bytes;
  o.label = file;
  return o;
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
      for (auto& d : e.docs) io::put_document(w, d);
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
        auto d = io::get_document(r);
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

std::string log_name(uint64_t number) { return "hints-" + std::to_string(number) + ".log"; }

/// The number of a segment file ("hints-<n>.log"); nullopt for any other
/// name (e.g. one set aside as damaged).
std::optional<uint64_t> segment_number(const std::string& name) {
  constexpr std::string_view prefix = "hints-", suffix = ".log";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0
      || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::nullopt;
  auto digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 19
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(digits);
}

backend_error damaged(const std::string& what) { return {errc::corrupt_response, what}; }

/// Counts the intact records of a segment that is not the last one, from
/// `from` on. Its tail must be clean: it was complete before the next
/// segment was started, so a torn-looking end is damage too.
expected<uint64_t> scan_closed_segment(const std::string& path, uint64_t from, uint64_t& bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io::io_error("opening " + path);
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  auto end = ::lseek(fd, 0, SEEK_END);
  if (end < 0) return io::io_error("sizing " + path);
  if (from > uint64_t(end))
    return damaged(path + " ends at byte " + std::to_string(end)
                   + ", before the offset it is read from (" + std::to_string(from) + ")");
  io::record_reader reader{fd, from, uint64_t(end), max_record_bytes};
  uint64_t records = 0;
  for (;;) {
    auto more = reader.next();
    if (!more) return more.error();
    if (!*more) break;
    ++records;
  }
  if (reader.tail() != io::log_tail::clean)
    return damaged(path + " is corrupt at byte " + std::to_string(reader.position()) + " ("
                   + reader.reason() + "; more segments follow it)");
  bytes = uint64_t(end);
  return records;
}

} // namespace

expected<std::unique_ptr<handoff_log>> handoff_log::open(const std::string& directory,
                                                         handoff_log_options options) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec) return backend_error{errc::backend_error, "creating " + directory + ": " + ec.message()};
  uint64_t first = 0, cursor = 0;
  if (std::filesystem::exists(directory + "/cursor")) {
    auto text = io::read_file(directory + "/cursor");
    if (!text) return text.error();
    if (std::sscanf(text->c_str(), "%lu %lu", &first, &cursor) != 2)
      return damaged(directory + "/cursor is damaged");
  }
  // Segments below the cursor's are replayed (a crash came between storing
  // the cursor and deleting them); the others must follow it without a gap.
  std::vector<uint64_t> numbers;
  for (auto& name : io::list_dir(directory, "hints-")) {
    auto n = segment_number(name);
    if (!n) continue;
    if (*n < first) std::filesystem::remove(directory + "/" + name, ec);
    else numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end());
  if (numbers.empty() || numbers.front() != first) {
    if (cursor > 0 || !numbers.empty())
      return damaged(directory + "/" + log_name(first) + ", named by the cursor, is missing");
    numbers.push_back(first); // a new log
  }
  for (size_t k = 1; k < numbers.size(); ++k)
    if (numbers[k] != numbers[k - 1] + 1)
      return damaged(directory + "/" + log_name(numbers[k - 1] + 1) + " is missing (segments "
                     + std::to_string(numbers[k - 1]) + " and " + std::to_string(numbers[k])
                     + " are there)");
  // Empty segments at the end: started, never appended to (or the next
  // segment of a move to an empty log whose cursor was never stored).
  while (numbers.size() > 1
         && std::filesystem::file_size(directory + "/" + log_name(numbers.back()), ec) == 0
         && !ec) {
    std::filesystem::remove(directory + "/" + log_name(numbers.back()), ec);
    numbers.pop_back();
  }
  std::unique_ptr<handoff_log> log{new handoff_log(directory, options)};
  log->cursor_ = cursor;
  auto count = [&](uint64_t, std::string_view) -> expected<void> {
    ++log->pending_;
    return {};
  };
  for (size_t k = 0; k < numbers.size(); ++k) {
    auto file = log->path(numbers[k]);
    uint64_t from = k == 0 ? cursor : 0;
    if (k + 1 < numbers.size()) {
      uint64_t bytes = 0;
      auto records = scan_closed_segment(file, from, bytes);
      if (!records) return records.error();
      log->pending_ += *records;
      log->segments_.push_back({numbers[k], bytes});
      continue;
    }
    // The last one: a torn tail (a crash mid-append, never acknowledged)
    // is cut off, damage is an error.
    auto opened = io::record_log::open(file, log_options(file), from, count);
    if (!opened) return opened.error();
    log->tail_ = std::move(*opened);
    log->segments_.push_back({numbers[k], log->tail_->size_bytes()});
  }
  if (log->segments_.size() > 1) {
    auto file = log->path(numbers.front());
    auto opened = io::record_log::open(file, log_options(file), cursor,
                                       [](uint64_t, std::string_view) -> expected<void> {
                                         return {};
                                       });
    if (!opened) return opened.error();
    log->head_ = std::move(*opened);
  }
  // A first segment replayed to its end, with more after it (never left so
  // by consume(), but cheap to make sure of: a peek must not come back
  // empty while entries wait).
  while (log->segments_.size() > 1 && log->cursor_ == log->head_bytes())
    if (auto ok = log->advance_head(); !ok) return ok.error();
  return log;
}

handoff_log::handoff_log(std::string directory, handoff_log_options options)
  : directory_(std::move(directory)), options_(options) {}

handoff_log::~handoff_log() = default;

std::string handoff_log::path(uint64_t number) const {
  return directory_ + "/" + log_name(number);
}

const io::record_log& handoff_log::head() const { return head_ ? *head_ : *tail_; }

uint64_t handoff_log::head_bytes() const { return head().size_bytes(); }

uint64_t handoff_log::size_bytes() const {
  uint64_t total = 0;
  for (size_t k = 0; k + 1 < segments_.size(); ++k) total += segments_[k].bytes;
  total += tail_->size_bytes();
  return total - cursor_;
}

expected<void> handoff_log::start_segment() {
  auto number = segments_.back().number + 1;
  auto file = path(number);
  auto fresh = io::record_log::create(file, log_options(file));
  if (!fresh) return fresh.error();
  // Its name must survive a power loss before anything in it is acknowledged.
  if (auto ok = io::sync_dir(directory_); !ok) {
    fresh->reset();
    ::unlink(file.c_str());
    return ok;
  }
  segments_.back().bytes = tail_->size_bytes();
  if (segments_.size() == 1) head_ = std::move(tail_); // the old last one stays the first
  tail_ = std::move(*fresh);
  segments_.push_back({number, 0});
  return {};
}

expected<void> handoff_log::append(const std::vector<handoff_entry>& entries) {
  if (entries.empty()) return {};
  if (tail_->size_bytes() > 0 && tail_->size_bytes() >= options_.segment_bytes)
    if (auto ok = start_segment(); !ok) return ok;
  std::vector<std::string> payloads;
  payloads.reserve(entries.size());
  for (auto& e : entries) payloads.push_back(encode(e));
  auto appended = tail_->append(payloads);
  if (!appended) return appended.error();
  segments_.back().bytes = tail_->size_bytes();
  pending_ += entries.size();
  return {};
}

expected<handoff_batch> handoff_log::peek(size_t max_entries, size_t max_bytes) const {
  handoff_batch batch;
  auto reader = head().read_from(cursor_);
  size_t read = 0;
  while (batch.entries.size() < max_entries && (read == 0 || read < max_bytes)) {
    auto more = reader.next();
    if (!more) return more.error();
    if (!*more) {
      // Everything up to the end was intact when it was opened or appended.
      if (reader.tail() != io::log_tail::clean)
        return damaged(head().path() + " is corrupt at byte " + std::to_string(reader.position())
                       + " (" + reader.reason() + ")");
      break;
    }
    auto entry = decode(reader.payload());
    if (!entry)
      return damaged(head().path() + ": undecodable entry at byte "
                     + std::to_string(reader.offset()));
    batch.entries.push_back(std::move(*entry));
    read += io::record_header_bytes + reader.payload().size();
  }
  batch.end_offset = reader.position();
  return batch;
}

expected<void> handoff_log::advance_head() {
  auto done = segments_.front();
  auto next = segments_[1].number;
  if (auto ok = store_cursor(next, 0); !ok) return ok;
  head_.reset();
  ::unlink(path(done.number).c_str());
  segments_.pop_front();
  cursor_ = 0;
  if (segments_.size() > 1) {
    auto file = path(next);
    auto opened = io::record_log::open(file, log_options(file), 0,
                                       [](uint64_t, std::string_view) -> expected<void> {
                                         return {};
                                       });
    if (!opened) return opened.error();
    head_ = std::move(*opened);
  }
  return {};
}

expected<void> handoff_log::consume(uint64_t offset, size_t entries) {
  auto size = head_bytes();
  if (offset <= cursor_ || offset > size) return {};
  if (offset < size) {
    if (auto ok = store_cursor(segments_.front().number, offset); !ok) return ok;
    cursor_ = offset;
    pending_ = pending_ >= entries ? pending_ - entries : 0;
    return {};
  }
  if (segments_.size() > 1) {
    // The first segment is replayed: reclaim it now.
    if (auto ok = advance_head(); !ok) return ok;
    pending_ = pending_ >= entries ? pending_ - entries : 0;
    return {};
  }
  // Everything is replayed: start an empty log of the next number. The
  // cursor names the first segment, so a crash at any point leaves either
  // the old log with its cursor or the new one (the other file is removed
  // at open); state here changes only once the new cursor is stored.
  auto number = segments_.back().number + 1;
  auto next = path(number);
  auto fresh = io::record_log::create(next, log_options(next));
  if (!fresh) return fresh.error();
  auto stored = store_cursor(number, 0);
  if (!stored) {
    fresh->reset();
    ::unlink(next.c_str());
    return stored;
  }
  ::unlink(path(segments_.back().number).c_str());
  tail_ = std::move(*fresh);
  segments_ = {segment{number, 0}};
  cursor_ = pending_ = 0;
  return {};
}

expected<uint64_t> handoff_log::drop_all() {
  // The cursor moves to the start of the last segment first (storing it
  // needs no more than a small file; a crash from here on leaves a log that
  // opens, at worst with entries a rebuild makes redundant), then the
  // segments before it go and the last one is emptied.
  auto dropped = pending_;
  auto last = segments_.back().number;
  if (auto ok = store_cursor(last, 0); !ok) return ok.error();
  head_.reset();
  for (size_t k = 0; k + 1 < segments_.size(); ++k) ::unlink(path(segments_[k].number).c_str());
  segments_ = {segment{last, 0}};
  cursor_ = pending_ = 0;
  if (auto ok = tail_->truncate(); !ok) return ok.error();
  return dropped;
}

expected<void> handoff_log::store_cursor(uint64_t number, uint64_t offset) {
  return io::write_file_atomic(directory_ + "/cursor",
                               std::to_string(number) + " " + std::to_string(offset));
}

} // namespace lifeline
