// The rules every document, query and name obeys (the limits of
// core/limits.hpp and more), applied by every backend before it touches its
// store and by the API when it parses a request: one definition, so every
// layer refuses bad input the same way (invalid_argument).
#pragma once

#include "core/expected.hpp"
#include "core/limits.hpp"
#include "core/types.hpp"

#include <span>
#include <vector>

namespace lifeline {

expected<void> validate_collection_name(const std::string& name);
expected<void> validate_spec(const collection_spec& spec);
expected<void> validate_id(const std::string& id);
/// Content: valid UTF-8 without NUL; metadata: empty or one JSON object.
/// Both within their size limits.
expected<void> validate_payload(const document& doc);
/// Checks dimension, that every component is finite and at most
/// max_component in magnitude, and that a nonzero vector has a finite,
/// nonzero unit vector (what a cosine collection stores; see normalize).
expected<void> validate_vector(std::span<const float> v, uint32_t dimension);
/// validate_id + validate_payload + validate_vector.
expected<void> validate_document(const document& doc, uint32_t dimension);
/// k between 1 and max_k, ef at most max_ef (every backend refuses what an
/// index would), and the vector as validate_vector.
expected<void> validate_query(const search_query& q, uint32_t dimension);
/// At most 2^63 - 1 (PostgreSQL stores versions as bigint).
expected<void> validate_version(uint64_t version);
/// A limit between 1 and max_scan_limit, a bound that is UTF-8 text.
expected<void> validate_scan(const scan_request& request);
/// The same rules for a repair range (both bounds).
expected<void> validate_range(const range_request& request);

/// Distance between a and b under m (smaller is nearer); for cosine both
/// vectors must already be normalised.
float distance(metric m, std::span<const float> a, std::span<const float> b);

/// Scales v to unit length (left unchanged if its norm is zero: a zero
/// vector is stored as it is, at cosine distance 1 from everything).
/// Computed in double, so that tiny (even denormal) and huge components
/// normalise exactly: for every vector validate_vector accepts, the result
/// is finite and its largest component is at least 1/sqrt(dimension).
void normalize(std::vector<float>& v);

} // namespace lifeline
