// Small file-system helpers shared by every module that keeps files (the
// vector store's snapshots, the handoff logs, the version ceiling, the
// replica markers): whole-file reads, synced writes, fsync of a file or a
// directory, and directory listings. Atomic replacement of a file is
// io/atomic_file.hpp. No CAF in here.
#pragma once

#include "core/expected.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace lifeline::io {

expected<std::string> read_file(const std::string& path);
/// Like read_file, but a missing file reads as "".
expected<std::string> read_file_if_exists(const std::string& path);
/// Writes `data` to `path` (created or emptied first) and fsyncs it.
expected<void> write_file_synced(const std::string& path, std::string_view data);
/// fsyncs an existing file (e.g. one hnswlib wrote).
expected<void> sync_file(const std::string& path);
/// fsyncs a directory, making renames and creations inside it durable.
expected<void> sync_dir(const std::string& path);
/// The directory part of `path` ("." for a bare name, "/" for the root).
std::string parent_dir(const std::string& path);
/// Names of the entries of `dir` that start with `prefix`, sorted.
std::vector<std::string> list_dir(const std::string& dir, std::string_view prefix);

/// A failed system call as a backend error: "<what>: <strerror(errno)>".
backend_error io_error(const std::string& what);

} // namespace lifeline::io
