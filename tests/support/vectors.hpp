// Seeded synthetic data for the vector tests: clustered gaussian vectors.
#pragma once

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

} // namespace lifeline::testing
