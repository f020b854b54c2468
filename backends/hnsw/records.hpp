// The vector store's on-disk encodings: write-ahead log records and the
// snapshot manifest. Every payload is little-endian (binary_io.hpp); the log
// frames each record with its length and CRC, the manifest ends in its own.
// No CAF in here.
//
// Log record: [u64 record number][u8 type][body]
//   1 create   str name, u32 dimension, u8 metric
//   2 drop     str name
//   3 upsert   str collection, u32 n, n x document       (before versions:
//              replayed unconditionally, as it was applied when written)
//   4 remove   str collection, str id                    (before versions:
//              replayed unconditionally, as version 0)
//   5 upsert   as 3, applied last-writer-wins on document::version
//   6 remove   str collection, str id, u64 version, last-writer-wins
//   7 purge    u64 up_to: forget tombstones with version <= up_to
// document: str id, floats vector, str content, str metadata, u64 version.
#pragma once

#include "core/expected.hpp"
#include "core/types.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::hnsw {

enum class record_type : uint8_t {
  create = 1,
  drop = 2,
  legacy_upsert = 3,
  legacy_remove = 4,
  upsert = 5,
  remove = 6,
  purge = 7,
};

/// One decoded log record; which fields are set depends on the type.
struct record {
  uint64_t lsn = 0;
  record_type type = record_type::create;
  collection_spec spec;          ///< create
  std::string collection;        ///< drop, upsert, remove
  std::vector<document> docs;    ///< upsert
  std::string id;                ///< remove
  uint64_t version = 0;          ///< remove (0 for the legacy type)
  uint64_t up_to = 0;            ///< purge
  /// A record from before versions: applied whatever the stored versions.
  bool legacy() const {
    return type == record_type::legacy_upsert || type == record_type::legacy_remove;
  }
};

std::string encode_create(uint64_t lsn, const collection_spec& spec);
std::string encode_drop(uint64_t lsn, const std::string& name);
/// The documents of `docs` whose `keep` flag is set (all if `keep` is empty).
std::string encode_upsert(uint64_t lsn, const std::string& collection,
                          const std::vector<document>& docs, const std::vector<bool>& keep);
std::string encode_remove(uint64_t lsn, const std::string& collection, const std::string& id,
                          uint64_t version);
std::string encode_purge(uint64_t lsn, uint64_t up_to);
/// `corrupt` if the payload is damaged or of an unknown type.
expected<record> decode_record(std::string_view payload);

// -- snapshot manifest ------------------------------------------------------------------
//
// [u64 magic][u64 record number][u32 n] n x ([str name][u32 dimension][u8 metric]
// [str index file][u32 index CRC][str meta file][u32 meta CRC]) [u32 CRC of the rest].
// Magic "FILLSNP1": meta files hold documents only; "FILLSNP2": documents then
// tombstones (see collection::save).

struct manifest_entry {
  collection_spec spec;
  std::string index_file;
  uint32_t index_crc = 0;
  std::string meta_file;
  uint32_t meta_crc = 0;
};

struct manifest {
  uint64_t lsn = 0;
  /// False for a FILLSNP1 snapshot: its meta files hold no tombstones.
  bool has_tombstones = true;
  std::vector<manifest_entry> collections;
};

/// Always the current format (FILLSNP2), checksum included.
std::string encode_manifest(const manifest& m);
/// Either format; `corrupt` (with a short reason) if damaged.
expected<manifest> decode_manifest(std::string_view file);

} // namespace lifeline::hnsw
