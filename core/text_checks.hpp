// Byte-level checks shared by every backend, so that each one accepts and
// refuses exactly the same documents (PostgreSQL text cannot hold NUL or
// invalid UTF-8; metadata must be a JSON object).
#pragma once

#include <cstddef>
#include <string_view>

namespace lifeline {

/// True if `s` is well-formed UTF-8 (no overlongs, no surrogates, at most
/// U+10FFFF).
bool is_valid_utf8(std::string_view s);

/// Maximum nesting of arrays and objects accepted in metadata.
inline constexpr size_t max_json_depth = 64;

/// True if `s` is one JSON object (RFC 8259 syntax, surrounding whitespace
/// allowed), nested at most max_json_depth deep.
bool is_json_object(std::string_view s);

} // namespace lifeline
