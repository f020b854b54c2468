// Input checks shared by every backend, so each refuses bad input the same
// way (invalid_argument) before touching its store.
#pragma once

#include "backends/expected.hpp"
#include "backends/types.hpp"

#include <span>
#include <vector>

namespace lifeline {

inline constexpr size_t max_id_bytes = 1024;
inline constexpr size_t max_collection_name_bytes = 128;
inline constexpr uint32_t max_dimension = 65536;
inline constexpr uint32_t max_k = 10000;
/// Largest hnsw search breadth a query may ask for.
inline constexpr uint32_t max_ef = 100000;
/// Largest component magnitude: keeps every distance finite in float, even
/// at the largest dimension, wherever it is computed (our distance() and
/// hnswlib's, both in float; hnswlib sums SIMD lanes separately, then adds
/// the lanes):
/// - l2: each term (a-b)^2 <= (2e15)^2 = 4e30, all terms are >= 0, so every
///   partial sum is <= the total <= 65536 * 4e30 ~ 2.6e35 < 3.4e38 (FLT_MAX);
/// - ip: each |a*b| <= 1e30, so every partial sum, whatever the order, is
///   within +-65536 * 1e30 ~ 6.6e34, and 1 - dot is finite;
/// - cosine: unit vectors, |dot| <= ~1.
/// No tighter limit is needed; tests/backends/contract/validation_cases.cpp checks
/// the extremes on every backend.
inline constexpr float max_component = 1e15f;
inline constexpr size_t max_content_bytes = 1 << 20;
inline constexpr size_t max_metadata_bytes = 64 << 10;
inline constexpr uint32_t max_scan_limit = 10000;

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
