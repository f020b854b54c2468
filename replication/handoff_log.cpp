#include "replication/handoff_log.hpp"

#include "io/atomic_file.hpp"
#include "io/document_codec.hpp"
#include "io/files.hpp"
#include "io/record_log.hpp"

#include <cstdio>
#include <filesystem>
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
    auto text = io::read_file(directory + "/cursor");
    if (!text) return text.error();
    if (std::sscanf(text->c_str(), "%lu %lu", &generation, &cursor) != 2)
      return backend_error{errc::corrupt_response, directory + "/cursor is damaged"};
  }
  std::unique_ptr<handoff_log> log{new handoff_log(directory, generation, cursor)};
  // Counts the entries not yet replayed; a torn tail (a crash mid-append,
  // never acknowledged) is cut off, damage is an error.
  auto file = log->path();
  auto opened = io::record_log::open(file, log_options(file), cursor,
                                     [&](uint64_t, std::string_view) -> expected<void> {
                                       ++log->pending_;
                                       return {};
                                     });
  if (!opened) return opened.error();
  log->log_ = std::move(*opened);
  // Logs of other generations: an emptied one not yet removed, or a new one
  // whose cursor was never stored (a crash while the log was rotated).
  for (auto& name : io::list_dir(directory, "hints-"))
    if (name != log_name(generation)) std::filesystem::remove(directory + "/" + name, ec);
  return log;
}

handoff_log::handoff_log(std::string directory, uint64_t generation, uint64_t cursor)
  : directory_(std::move(directory)), generation_(generation), cursor_(cursor) {}

handoff_log::~handoff_log() = default;

std::string handoff_log::path() const { return directory_ + "/" + log_name(generation_); }

uint64_t handoff_log::size_bytes() const { return log_->size_bytes(); }

expected<void> handoff_log::append(const std::vector<handoff_entry>& entries) {
  std::vector<std::string> payloads;
  payloads.reserve(entries.size());
  for (auto& e : entries) payloads.push_back(encode(e));
  auto appended = log_->append(payloads);
  if (!appended) return appended.error();
  pending_ += entries.size();
  return {};
}

expected<handoff_batch> handoff_log::peek(size_t max_entries, size_t max_bytes) const {
  handoff_batch batch;
  auto reader = log_->read_from(cursor_);
  size_t read = 0;
  while (batch.entries.size() < max_entries && (read == 0 || read < max_bytes)) {
    auto more = reader.next();
    if (!more) return more.error();
    if (!*more) {
      // Everything up to the end was intact when it was opened or appended.
      if (reader.tail() != io::log_tail::clean)
        return backend_error{errc::corrupt_response, path() + " is corrupt at byte "
                                                    + std::to_string(reader.position()) + " ("
                                                    + reader.reason() + ")"};
      break;
    }
    auto entry = decode(reader.payload());
    if (!entry)
      return backend_error{errc::corrupt_response, path() + ": undecodable entry at byte "
                                                  + std::to_string(reader.offset())};
    batch.entries.push_back(std::move(*entry));
    read += io::record_header_bytes + reader.payload().size();
  }
  batch.end_offset = reader.position();
  return batch;
}

expected<void> handoff_log::consume(uint64_t offset, size_t entries) {
  auto size = log_->size_bytes();
  if (offset <= cursor_ || offset > size) return {};
  if (offset < size) {
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
  auto fresh = io::record_log::create(next, log_options(next));
  if (!fresh) return fresh.error();
  auto stored = store_cursor(generation_ + 1, 0);
  if (!stored) {
    fresh->reset();
    ::unlink(next.c_str());
    return stored;
  }
  ::unlink(path().c_str());
  log_ = std::move(*fresh);
  ++generation_;
  cursor_ = pending_ = 0;
  return {};
}

expected<void> handoff_log::store_cursor(uint64_t generation, uint64_t offset) {
  return io::write_file_atomic(directory_ + "/cursor",
                               std::to_string(generation) + " " + std::to_string(offset));
}

} // namespace lifeline
