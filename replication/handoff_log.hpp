// A backend's hinted-handoff log: the writes it missed (it was down, its
// circuit open, or the write failed or timed out on it), kept durably until
// they are replayed to it. The coordinator acknowledges a write only once
// every backend that did not apply it has the write here.
//
// Files in the log's directory:
//   hints-<generation>.log  an io::record_log: records [u32 length]
//                           [u32 CRC-32][payload], one entry each
//   cursor                  "<generation> <offset>": the log in use and the
//                           byte offset of its first entry not yet replayed
// Once every entry is replayed, the log moves to an empty file of the next
// generation (the cursor decides which file is current, so a crash in the
// middle never mixes the two).
// An append is written and fdatasync'ed before it returns. A failed append
// (disk full, I/O error) is cut off again, so the log never holds a torn
// record that a later append would follow; a torn tail found at open (a
// crash mid-append, never acknowledged) is cut off too. A damaged record
// with more after it is an error: nothing acknowledged is ever cut off.
// (Framing, syncing and the torn-versus-damaged reading are
// io/record_log.hpp's, shared with the vector store's log.)
// No CAF in here.
#pragma once

#include "core/expected.hpp"
#include "core/types.hpp"

#include <cstdint>
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

class handoff_log {
public:
  /// Opens (creating if needed) the log in `directory`.
  static expected<std::unique_ptr<handoff_log>> open(const std::string& directory);
  ~handoff_log();
  handoff_log(const handoff_log&) = delete;
  handoff_log& operator=(const handoff_log&) = delete;

  /// Appends entries durably, all or none.
  expected<void> append(const std::vector<handoff_entry>& entries);
  /// Reads entries from the cursor on (not consuming them), stopping after
  /// `max_entries` or once `max_bytes` of records have been read.
  expected<handoff_batch> peek(size_t max_entries, size_t max_bytes) const;
  /// Marks the `entries` entries before `offset` (a batch's end_offset and
  /// size) as replayed.
  /// Once the whole log is replayed, the file is emptied.
  expected<void> consume(uint64_t offset, size_t entries);
  /// Entries appended and not yet consumed.
  uint64_t pending() const { return pending_; }
  /// Bytes of intact records in the current file.
  uint64_t size_bytes() const;

private:
  handoff_log(std::string directory, uint64_t generation, uint64_t cursor);
  expected<void> store_cursor(uint64_t generation, uint64_t offset);
  std::string path() const;

  std::string directory_;
  std::unique_ptr<io::record_log> log_;
  uint64_t generation_ = 0;
  uint64_t cursor_ = 0;  ///< Offset of the first unreplayed record.
  uint64_t pending_ = 0;
};

} // namespace lifeline
