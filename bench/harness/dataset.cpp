#include "harness/dataset.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

namespace fs = std::filesystem;

namespace lifeline::bench {

namespace {

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
template <class... Parts>
[[noreturn]] void fail(const std::string& path, const Parts&... what) {
  throw std::runtime_error(cat(path, ": ", what...));
}
template <class... Parts>
[[noreturn]] void fail_at(const std::string& path, size_t row, const Parts&... what) {
  fail(path, "row ", row, ": ", what...);
}

uint32_t decode32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
void encode32(uint32_t v, unsigned char* p) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

constexpr int32_t max_dimension = 1 << 20;

// Reads rows of 4-byte little-endian values; convert(bits, row) gives a T.
template <class T, class Convert>
matrix<T> read_vecs(const std::string& path, size_t max_rows, Convert convert) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open: ", std::strerror(errno));
  matrix<T> m;
  std::vector<unsigned char> row;
  for (size_t r = 0; r < max_rows; ++r) {
    unsigned char head[4];
    in.read(reinterpret_cast<char*>(head), 4);
    if (in.gcount() == 0 && in.eof()) break;
    if (in.gcount() != 4) fail_at(path, r, "truncated (incomplete dimension field)");
    auto dim = static_cast<int32_t>(decode32(head));
    if (dim <= 0 || dim > max_dimension) fail_at(path, r, "bad dimension ", dim);
    if (r == 0) {
      m.dimension = static_cast<uint32_t>(dim);
      std::error_code ec;
      size_t rows = fs::file_size(path, ec) / (4 + 4 * size_t(dim)); // on error, 0 rows
      m.values.reserve(std::min(rows, max_rows) * size_t(dim));
    } else if (static_cast<uint32_t>(dim) != m.dimension) {
      fail_at(path, r, "dimension ", dim, ", earlier rows have ", m.dimension);
    }
    row.resize(4 * size_t(dim));
    in.read(reinterpret_cast<char*>(row.data()), static_cast<std::streamsize>(row.size()));
    if (static_cast<size_t>(in.gcount()) != row.size())
      fail_at(path, r, "truncated (", row.size(), " bytes of data expected, ", in.gcount(),
              " found)");
    for (size_t i = 0; i < size_t(dim); ++i) m.values.push_back(convert(decode32(&row[4 * i]), r));
  }
  if (in.bad()) fail(path, "read error");
  return m;
}

template <class T, class Convert>
void write_vecs(const std::string& path, uint32_t dim, std::span<const T> values, Convert convert) {
  if (!values.empty() && (dim == 0 || dim > uint32_t(max_dimension) || values.size() % dim != 0))
    throw std::invalid_argument(
        cat(path, ": ", values.size(), " values do not make rows of dimension ", dim));
  std::string tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(tmp, "cannot create: ", std::strerror(errno));
    std::vector<unsigned char> row(4 + 4 * size_t(dim));
    encode32(dim, row.data());
    for (size_t start = 0; start < values.size(); start += dim) {
      for (size_t i = 0; i < dim; ++i) encode32(convert(values[start + i]), &row[4 + 4 * i]);
      out.write(reinterpret_cast<const char*>(row.data()), std::streamsize(row.size()));
    }
    out.flush();
    if (!out) fail(tmp, "write error");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    fail(path, "cannot rename into place: ", ec.message());
  }
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Portable draws on mt19937_64 output (std distributions vary by library).
double uniform(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; } // [0, 1)

double normal(std::mt19937_64& rng) { // Box-Muller; 1 - uniform is in (0, 1]: finite log
  double r = std::sqrt(-2.0 * std::log(1.0 - uniform(rng)));
  return r * std::cos(2.0 * 3.14159265358979323846 * uniform(rng));
}

constexpr double noise_sigma = 0.15;

void draw_points(std::vector<float>& out, size_t count, uint32_t dim,
                 const std::vector<float>& centres, uint32_t clusters, std::mt19937_64 rng) {
  out.resize(count * dim);
  for (size_t i = 0; i < count; ++i) {
    const float* c = centres.data() + rng() % clusters * dim;
    for (uint32_t j = 0; j < dim; ++j)
      out[i * dim + j] = static_cast<float>(c[j] + noise_sigma * normal(rng));
  }
}

// The truth in `m`, validated against the set, first k ids of each row.
std::vector<uint32_t> truth_from(const matrix<uint32_t>& m, const std::string& path,
                                 size_t queries, size_t base_size, uint32_t k) {
  if (m.rows() != queries)
    fail(path, "has ", m.rows(), " rows for ", queries, " queries");
  if (queries > 0 && m.dimension < k)
    fail(path, "has ", m.dimension, " ids per query, fewer than k = ", k);
  std::vector<uint32_t> truth;
  truth.reserve(queries * k);
  for (size_t q = 0; q < queries; ++q)
    for (uint32_t i = 0; i < k; ++i) {
      uint32_t id = m.values[q * m.dimension + i];
      if (id >= base_size)
        fail_at(path, q, "id ", id, " outside the base (", base_size, " vectors)");
      truth.push_back(id);
    }
  return truth;
}

} // namespace

matrix<float> read_fvecs(const std::string& path, size_t max_rows) {
  return read_vecs<float>(path, max_rows,
                          [](uint32_t bits, size_t) { return std::bit_cast<float>(bits); });
}

matrix<uint32_t> read_ivecs(const std::string& path, size_t max_rows) {
  return read_vecs<uint32_t>(path, max_rows, [&path](uint32_t bits, size_t row) {
    if (static_cast<int32_t>(bits) < 0)
      fail_at(path, row, "negative id ", static_cast<int32_t>(bits));
    return bits;
  });
}

void write_fvecs(const std::string& path, uint32_t dimension, std::span<const float> values) {
  write_vecs(path, dimension, values, [](float v) { return std::bit_cast<uint32_t>(v); });
}

void write_ivecs(const std::string& path, uint32_t dimension, std::span<const uint32_t> values) {
  write_vecs(path, dimension, values, [&path](uint32_t v) {
    if (v > uint32_t(std::numeric_limits<int32_t>::max()))
      throw std::invalid_argument(cat(path, ": id ", v, " does not fit an int32"));
    return v;
  });
}

dataset generate(uint32_t dimension, size_t count, size_t queries, uint64_t seed,
                 uint32_t clusters) {
  if (dimension == 0 || clusters == 0)
    throw std::invalid_argument("generate: dimension and clusters must be positive");
  auto stream = [seed](uint64_t n) { return std::mt19937_64(splitmix64(seed ^ splitmix64(n))); };
  auto centre_rng = stream(1);
  std::vector<float> centres(size_t(clusters) * dimension);
  for (auto& c : centres) c = static_cast<float>(-1.0 + 2.0 * uniform(centre_rng));
  dataset d;
  d.dimension = dimension;
  draw_points(d.base, count, dimension, centres, clusters, stream(2));
  draw_points(d.queries, queries, dimension, centres, clusters, stream(3));
  return d;
}

float squared_l2(std::span<const float> a, std::span<const float> b) {
  float s[8] = {};
  size_t n = std::min(a.size(), b.size()), i = 0;
  for (; i + 8 <= n; i += 8)
    for (size_t l = 0; l < 8; ++l) {
      float d = a[i + l] - b[i + l];
      s[l] += d * d;
    }
  float tail = 0;
  for (; i < n; ++i) tail += (a[i] - b[i]) * (a[i] - b[i]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + tail;
}

std::vector<uint32_t> exact_neighbours(const dataset& data, uint32_t k) {
  const size_t n = data.size(), queries = data.query_count();
  if (k > n)
    throw std::invalid_argument(cat("exact_neighbours: k = ", k, " but ", n, " base vectors"));
  std::vector<uint32_t> out(queries * k);
  if (k == 0 || queries == 0) return out;
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<std::pair<float, uint32_t>> heap; // max-heap on (distance, id)
    heap.reserve(k);
    for (size_t q; (q = next.fetch_add(1)) < queries;) {
      heap.clear();
      auto query = data.query(q);
      for (size_t i = 0; i < n; ++i) {
        float dist = squared_l2(query, data.vector(i));
        if (std::isnan(dist)) dist = std::numeric_limits<float>::infinity();
        if (heap.size() == k && !(dist < heap.front().first)) continue; // ties: lower id stays
        if (heap.size() == k) std::pop_heap(heap.begin(), heap.end()), heap.pop_back();
        heap.emplace_back(dist, static_cast<uint32_t>(i));
        std::push_heap(heap.begin(), heap.end());
      }
      std::sort_heap(heap.begin(), heap.end());
      for (uint32_t r = 0; r < k; ++r) out[q * k + r] = heap[r].second;
    }
  };
  size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, queries);
  std::vector<std::jthread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  pool.clear();
  return out;
}

std::string cache_stem(uint32_t dimension, size_t count, size_t queries, uint64_t seed) {
  return cat("synthetic-d", dimension, "-n", count, "-q", queries, "-s", seed);
}

dataset load_or_generate(const std::string& cache_dir, uint32_t dimension, size_t count,
                         size_t queries, uint32_t k, uint64_t seed, cache_report* report) {
  if (k > count)
    throw std::invalid_argument(cat("k = ", k, " exceeds the ", count, " base vectors"));
  cache_report local;
  cache_report& rep = report ? *report : local;
  rep = {};
  fs::create_directories(cache_dir);
  std::string stem = (fs::path(cache_dir) / cache_stem(dimension, count, queries, seed)).string();
  std::string base_path = stem + ".base.fvecs", query_path = stem + ".query.fvecs";
  std::string truth_path = cat(stem, "-k", k, ".truth.ivecs");

  dataset d;
  try {
    auto b = read_fvecs(base_path);
    auto q = read_fvecs(query_path);
    auto fits = [dimension](const matrix<float>& m, size_t rows) {
      return m.rows() == rows && (rows == 0 || m.dimension == dimension);
    };
    if (fits(b, count) && fits(q, queries)) {
      d.dimension = dimension;
      d.base = std::move(b.values);
      d.queries = std::move(q.values);
    }
  } catch (const std::runtime_error&) { // missing or damaged: regenerate
  }
  if (d.dimension == 0) {
    d = generate(dimension, count, queries, seed);
    write_fvecs(base_path, dimension, d.base);
    write_fvecs(query_path, dimension, d.queries);
    rep.generated = true;
  }
  d.k = k;
  if (k == 0) return d;
  if (!rep.generated) {
    try {
      auto t = read_ivecs(truth_path);
      if (t.dimension == k) {
        d.truth = truth_from(t, truth_path, queries, count, k);
        return d;
      }
    } catch (const std::runtime_error&) { // missing or damaged: recompute
    }
  }
  d.truth = exact_neighbours(d, k);
  write_ivecs(truth_path, k, d.truth);
  rep.computed_truth = true;
  return d;
}

dataset load_files(const std::string& base_fvecs, const std::string& query_fvecs,
                   const std::string& truth_ivecs, uint32_t k) {
  auto b = read_fvecs(base_fvecs);
  auto q = read_fvecs(query_fvecs);
  if (b.rows() == 0) fail(base_fvecs, "no vectors");
  if (q.rows() > 0 && q.dimension != b.dimension)
    fail(query_fvecs, "dimension ", q.dimension, ", the base (", base_fvecs, ") has ",
         b.dimension);
  if (k > b.rows())
    fail(base_fvecs, "k = ", k, " exceeds its ", b.rows(), " vectors");
  dataset d;
  d.dimension = b.dimension;
  d.base = std::move(b.values);
  d.queries = std::move(q.values);
  d.k = k;
  if (!truth_ivecs.empty()) {
    d.truth = truth_from(read_ivecs(truth_ivecs), truth_ivecs, d.query_count(), d.size(), k);
    return d;
  }
  std::string cached = cat(query_fvecs, ".truth-k", k, ".ivecs");
  std::error_code ec;
  auto stamp = fs::last_write_time(cached, ec);
  if (!ec && stamp >= fs::last_write_time(base_fvecs) &&
      stamp >= fs::last_write_time(query_fvecs)) { // else possibly stale
    try {
      d.truth = truth_from(read_ivecs(cached), cached, d.query_count(), d.size(), k);
      return d;
    } catch (const std::runtime_error&) { // damaged: recompute
    }
  }
  d.truth = exact_neighbours(d, k);
  try {
    write_ivecs(cached, k, d.truth);
  } catch (const std::exception&) { // not writable: the truth is just not cached
  }
  return d;
}

double recall_at_k(const std::vector<uint32_t>& found_ids_for_query,
                   std::span<const uint32_t> truth_for_query, uint32_t k) {
  size_t want = std::min<size_t>(k, truth_for_query.size()), hits = 0;
  if (want == 0) return 1.0;
  auto truth = truth_for_query.first(want);
  std::span<const uint32_t> found(found_ids_for_query);
  found = found.first(std::min<size_t>(k, found.size()));
  for (auto it = found.begin(); it != found.end(); ++it) // k is small: quadratic is fine
    if (std::find(found.begin(), it, *it) == it && std::ranges::find(truth, *it) != truth.end())
      ++hits;
  return static_cast<double>(hits) / static_cast<double>(want);
}

} // namespace lifeline::bench
