// Small file-system helpers for the vector store's snapshots: whole-file
// reads and durable writes (write, fsync, and fsync of the directory).
#pragma once

#include "core/expected.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace lifeline::hnsw {

expected<std::string> read_file(const std::string& path);
/// Like read_file, but a missing file reads as "".
expected<std::string> read_file_if_exists(const std::string& path);
/// Writes `data` to `path` and fsyncs it.
expected<void> write_file_synced(const std::string& path, std::string_view data);
/// Replaces `path` atomically: writes `<path>.tmp`, fsyncs it, renames it
/// over `path` and fsyncs the directory. A crash leaves the old or the new.
expected<void> write_file_atomic(const std::string& path, std::string_view data);
/// fsyncs an existing file (e.g. one hnswlib wrote).
expected<void> sync_file(const std::string& path);
/// fsyncs a directory, making renames and creations inside it durable.
expected<void> sync_dir(const std::string& path);
/// Names of the entries of `dir` that start with `prefix`, sorted.
std::vector<std::string> list_dir(const std::string& dir, std::string_view prefix);

} // namespace lifeline::hnsw
