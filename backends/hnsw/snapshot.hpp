// The vector store's snapshot directories: per collection its hnswlib file
// (c<i>.hnsw) and payloads with tombstones (c<i>.meta), and a manifest
// (records.hpp) with every file's CRC-32 and the last record number covered.
// No CAF in here.
#pragma once

#include "core/expected.hpp"
#include "backends/hnsw/collection.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace lifeline::hnsw {

using collection_map = std::map<std::string, std::shared_ptr<collection>>;

/// Writes every collection and the manifest (at record `lsn`) into the
/// existing, empty directory `dir`, and fsyncs the files and `dir`. The
/// caller holds writes off; readers go on.
expected<void> write_snapshot(const std::string& dir, uint64_t lsn,
                              const collection_map& collections);

struct loaded_snapshot {
  uint64_t lsn = 0;
  collection_map collections;
};

/// Loads the snapshot in `dir`, checking every checksum before hnswlib reads
/// a file (it trusts its input); `corrupt` if anything is damaged. Counts
/// the collections into `total` and, as each one is loaded, into `done`.
expected<loaded_snapshot> load_snapshot(const std::string& dir, const index_params& params,
                                        std::atomic<uint64_t>& done,
                                        std::atomic<uint64_t>& total);

} // namespace lifeline::hnsw
