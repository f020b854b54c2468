// How Lifeline's values travel as PostgreSQL parameters and results: vectors
// as bytea (float32, little-endian), arrays as array literals. Every value is
// a bound parameter; these only build the parameter text. No CAF in here.
#pragma once

#include "core/types.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::pg {

/// The bytea input text ("\x" + hex) of a vector's float32 bytes.
std::string vector_to_bytea_hex(const std::vector<float>& v);

/// Decodes a bytea output text ("\x" + hex) into floats. nullopt if it is not
/// hex bytea or its length is not a multiple of 4.
std::optional<std::vector<float>> vector_from_bytea_hex(std::string_view text);

/// Decodes a bytea in binary result format (the raw float32 bytes), as the
/// asynchronous reader receives it. nullopt if its length is not a multiple of 4.
std::optional<std::vector<float>> vector_from_bytea_binary(std::string_view bytes);

/// Decodes into `out` (resized), for the hot loop of exact search.
bool decode_bytea_hex(std::string_view text, std::vector<float>& out);

/// Appends one element to a PostgreSQL array literal under construction
/// ("{" ... "}"): quoted and escaped, or NULL.
void append_array_element(std::string& literal, const std::optional<std::string_view>& value);

/// A text[] literal of `values`.
std::string text_array(const std::vector<std::string>& values);

/// A batch of documents as parallel array literals, one element per document
/// (text[], bytea[], text[], text[] with NULL for no metadata, bigint[]), for
/// an `unnest` over all five.
struct document_arrays {
  std::string ids = "{", vectors = "{", contents = "{", metadata = "{", versions = "{";

  /// Appends `d` with `vector` as its embedding (e.g. normalised).
  void add(const document& d, const std::vector<float>& vector);
  /// Closes every literal; call once, after the last add.
  void close();
};

} // namespace lifeline::pg
