// The one way Lifeline replaces a small file durably (the handoff cursor,
// the version ceiling, the replica markers): write `<path>.tmp`, fsync it,
// rename it over `path`, fsync the directory. A crash at any point leaves
// either the old content or the new one, never a mix or an empty file.
// No CAF in here.
#pragma once

#include "core/expected.hpp"

#include <string>
#include <string_view>

namespace lifeline::io {

/// Replaces `path` atomically and durably with `data` (see above). A
/// `<path>.tmp` left by an earlier crash is overwritten.
expected<void> write_file_atomic(const std::string& path, std::string_view data);

} // namespace lifeline::io
