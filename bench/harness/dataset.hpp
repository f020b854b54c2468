// The data side of lifeline-bench: vector sets (synthetic or SIFT-style
// .fvecs/.ivecs files), exact ground truth and recall.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace lifeline::bench {

// Base vectors, queries and, per query, the ids (row indexes into base) of
// its k exact nearest neighbours, nearest first. All matrices row-major.
struct dataset {
  uint32_t dimension = 0;
  std::vector<float> base;       // size() * dimension
  std::vector<float> queries;    // query_count() * dimension
  std::vector<uint32_t> truth;   // query_count() * k (empty when not computed)
  uint32_t k = 0;

  size_t size() const { return dimension == 0 ? 0 : base.size() / dimension; }
  size_t query_count() const { return dimension == 0 ? 0 : queries.size() / dimension; }
  std::span<const float> vector(size_t i) const {
    return {base.data() + i * dimension, dimension};
  }
  std::span<const float> query(size_t j) const {
    return {queries.data() + j * dimension, dimension};
  }
  std::span<const uint32_t> truth_for(size_t j) const { return {truth.data() + j * k, k}; }
};

// Clustered synthetic vectors: `clusters` centres uniform in [-1,1]^d, each
// point a random centre plus gaussian noise (sigma 0.15). Queries are drawn
// the same way from another stream. Bit-identical for the same parameters
// (mt19937_64 and a portable Box-Muller, no std distributions). No truth.
dataset generate(uint32_t dimension, size_t count, size_t queries, uint64_t seed,
                 uint32_t clusters = 64);

// The squared L2 distance used for the ground truth (fixed summation order).
float squared_l2(std::span<const float> a, std::span<const float> b);

// Exact top-k (squared L2, ties by lower index) of every query against the
// base, by brute force on hardware_concurrency threads: query_count() * k
// ids, nearest first. Throws std::invalid_argument if k > size().
std::vector<uint32_t> exact_neighbours(const dataset& data, uint32_t k);

// What load_or_generate did (for messages and tests).
struct cache_report {
  bool generated = false;       // base/query files were (re)written
  bool computed_truth = false;  // the truth file was (re)written
};

// The synthetic set for these parameters with its top-k truth, from
// cache_dir when the files are there and valid, otherwise generated (and
// the truth computed) and stored there:
//   synthetic-d<d>-n<n>-q<q>-s<seed>.base.fvecs / .query.fvecs
//   synthetic-d<d>-n<n>-q<q>-s<seed>-k<k>.truth.ivecs
dataset load_or_generate(const std::string& cache_dir, uint32_t dimension, size_t count,
                         size_t queries, uint32_t k, uint64_t seed,
                         cache_report* report = nullptr);

// The file names load_or_generate uses (without the directory).
std::string cache_stem(uint32_t dimension, size_t count, size_t queries, uint64_t seed);

// A row-major matrix as read from an .fvecs/.ivecs file.
template <class T>
struct matrix {
  uint32_t dimension = 0;
  std::vector<T> values;
  size_t rows() const { return dimension == 0 ? 0 : values.size() / dimension; }
};

inline constexpr size_t all_rows = std::numeric_limits<size_t>::max();

// .fvecs/.ivecs: per row an int32 little-endian dimension, then that many
// little-endian float32/int32. Reading throws std::runtime_error naming the
// path and row on a missing file, a truncated row, a bad or inconsistent
// dimension (and for ivecs, a negative id). Writing goes through a temporary
// file renamed into place; it throws std::runtime_error on I/O failure and
// std::invalid_argument if values.size() is not a multiple of dimension.
matrix<float> read_fvecs(const std::string& path, size_t max_rows = all_rows);
matrix<uint32_t> read_ivecs(const std::string& path, size_t max_rows = all_rows);
void write_fvecs(const std::string& path, uint32_t dimension, std::span<const float> values);
void write_ivecs(const std::string& path, uint32_t dimension, std::span<const uint32_t> values);

// A user-supplied set. With truth_ivecs empty, the truth is read from
// "<query_fvecs>.truth-k<k>.ivecs" if a valid one is there, else computed
// and written there (skipped silently if the directory is not writable).
// A truth file may hold more than k ids per query; the first k are kept.
// Throws std::runtime_error on unreadable or mismatched files.
dataset load_files(const std::string& base_fvecs, const std::string& query_fvecs,
                   const std::string& truth_ivecs, uint32_t k);

// |first k of found ∩ first k of truth| / k (k capped at truth.size();
// duplicates in found count once). 1.0 when there is nothing to find.
double recall_at_k(const std::vector<uint32_t>& found_ids_for_query,
                   std::span<const uint32_t> truth_for_query, uint32_t k);

} // namespace lifeline::bench
