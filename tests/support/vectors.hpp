// Vectors for the tests: seeded clustered gaussian data, and the checks the
// value tests share (finite components, the norm, a vector of one value).
#pragma once

#include "core/limits.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace lifeline::testing {

class clustered_vectors {
public:
  clustered_vectors(size_t dim, size_t clusters, uint32_t seed) : dim_(dim), rng_(seed) {
    std::normal_distribution<float> gauss;
    for (size_t c = 0; c < clusters; ++c) {
      std::vector<float> v(dim);
      for (auto& x : v) x = gauss(rng_) * 5;
      centres_.push_back(std::move(v));
    }
  }
  std::vector<float> next() {
    std::normal_distribution<float> gauss;
    auto& c = centres_[rng_() % centres_.size()];
    std::vector<float> v(dim_);
    for (size_t i = 0; i < dim_; ++i) v[i] = c[i] + gauss(rng_);
    return v;
  }

private:
  size_t dim_;
  std::mt19937 rng_;
  std::vector<std::vector<float>> centres_;
};

inline bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

inline double norm(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += double(x) * double(x);
  return std::sqrt(n);
}

inline std::vector<float> filled(float x, size_t n = max_dimension) {
  return std::vector<float>(n, x);
}

} // namespace lifeline::testing
