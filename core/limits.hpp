// The limits on what a request may ask for and a document may hold. The
// backends enforce them (backends/validation.hpp) and the API parses with
// them; one definition, so the two can never disagree.
#pragma once

#include <cstddef>
#include <cstdint>

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
/// Documents in one batch write: the default the API enforces (413 above
/// it), and the largest an operator may configure (max_batch).
inline constexpr uint32_t default_max_batch = 1000;
inline constexpr uint32_t max_batch_limit = 100000;

} // namespace lifeline
