// A backend's hinted-handoff log: the writes it missed (it was down, its
// circuit open, or the write failed or timed out on it), kept durably until
// they are replayed to it. The coordinator acknowledges a write only once
// every backend that did not apply it has the write here (or, past the
// log's size limit, once the backend is marked for a rebuild instead).
//
// Files in the log's directory:
//   hints-<n>.log  segments, each an io::record_log: records [u32 length]
//                  [u32 CRC-32][payload], one entry each. Segments are
//                  numbered consecutively; appends go to the last one, and a
//                  new one is started once the last holds segment_bytes.
//   cursor         "<n> <offset>": the first segment not yet replayed and
//                  the byte offset of its first entry not yet replayed.
// Why segments: replayed entries are reclaimed as replay goes (a segment is
// deleted once the cursor has passed it), not only once the whole log has
// drained. A log written by the previous version (one hints-<n>.log file
// with its cursor) is a log of one segment: it opens and replays as it is.
// Once every entry is replayed, the log moves to an empty segment of the
// next number (the cursor decides which segment is first, so a crash in the
// middle never mixes the two: segments below the cursor's are removed at
// open).
// An append is written and fdatasync'ed before it returns (a new segment's
// directory entry is synced before its first append). A failed append
// (disk full, I/O error) is cut off again, so the log never holds a torn
// record that a later append would follow; a torn tail of the last segment
// found at open (a crash mid-append, never acknowledged) is cut off too.
// Anything else is damage, an error naming the file and byte: a record
// failing its checksum with more after it, any bad tail of a segment that
// is not the last (it was complete before the next one was started), a
// missing segment. Nothing acknowledged is ever cut off silently.
// (Framing, syncing and the torn-versus-damaged reading are
// io/record_log.hpp's, shared with the vector store's log.)
// No CAF in here.
#pragma once

#include "core/expected.hpp"
#include "core/types.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace lifeline {

namespace io {
class record_log;
}

/// One missed write, as the coordinator versioned it.
struct handoff_entry {
  enum class kind : uint8_t { create = 1, drop = 2, upsert = 3, remove = 4 };
  kind op = kind::upsert;
  std::string collection;
  collection_spec spec;        ///< create
  std::vector<document> docs;  ///< upsert (each with its version)
  std::string id;              ///< remove
  uint64_t version = 0;        ///< remove

  friend bool operator==(const handoff_entry&, const handoff_entry&) = default;
};

/// A page of entries read from the log, and where the next page starts.
struct handoff_batch {
  std::vector<handoff_entry> entries;
  uint64_t end_offset = 0; ///< Pass to consume() once they are applied.
};

struct handoff_log_options {
  /// A new segment is started once the last one holds this many bytes.
  uint64_t segment_bytes = uint64_t{16} << 20;
};

class handoff_log {
public:
  /// Opens (creating if needed) the log in `directory`. A damaged log is a
  /// `corrupt_response` error naming the file and byte.
  static expected<std::unique_ptr<handoff_log>> open(const std::string& directory,
                                                     handoff_log_options options = {});
  ~handoff_log();
  handoff_log(const handoff_log&) = delete;
  handoff_log& operator=(const handoff_log&) = delete;

  /// Appends entries durably, all or none.
  expected<void> append(const std::vector<handoff_entry>& entries);
  /// Reads entries from the cursor on (not consuming them), stopping after
  /// `max_entries` or once `max_bytes` of records have been read, or at the
  /// end of the first segment (the next peek, after consume(), goes on).
  expected<handoff_batch> peek(size_t max_entries, size_t max_bytes) const;
  /// Marks the `entries` entries before `offset` (a batch's end_offset and
  /// size) as replayed.
  /// A segment whose entries are all replayed is deleted; once the whole
  /// log is replayed, it moves to an empty segment.
  expected<void> consume(uint64_t offset, size_t entries);
  /// Discards every entry (the log is over its limit: the backend is
  /// rebuilt instead); returns how many there were.
  expected<uint64_t> drop_all();
  /// Entries appended and not yet consumed.
  uint64_t pending() const { return pending_; }
  /// Bytes of records not yet replayed (about what the log takes on disk:
  /// at most one segment more).
  uint64_t size_bytes() const;
  /// Segment files on disk now.
  size_t segments() const { return segments_.size(); }
  /// The number of the first segment (offsets of peek and consume are in it).
  uint64_t first_segment() const { return segments_.front().number; }
  const std::string& directory() const { return directory_; }

private:
  struct segment {
    uint64_t number = 0;
    uint64_t bytes = 0; ///< Intact records in it.
  };

  handoff_log(std::string directory, handoff_log_options options);
  expected<void> store_cursor(uint64_t number, uint64_t offset);
  std::string path(uint64_t number) const;
  /// The first segment (the one the cursor is in).
  const io::record_log& head() const;
  uint64_t head_bytes() const;
  /// The first segment is replayed and another follows: delete it.
  expected<void> advance_head();
  /// Starts the next segment (appends go there).
  expected<void> start_segment();

  std::string directory_;
  handoff_log_options options_;
  std::deque<segment> segments_; ///< First (cursor) to last (appended to).
  std::unique_ptr<io::record_log> tail_; ///< The last segment.
  std::unique_ptr<io::record_log> head_; ///< The first, if it is not the last.
  uint64_t cursor_ = 0;  ///< Offset of the first unreplayed record in the first segment.
  uint64_t pending_ = 0;
};

} // namespace lifeline
