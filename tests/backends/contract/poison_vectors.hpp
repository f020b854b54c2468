// Vectors at the edges of what a backend stores (GitHub issue 11, "Values"):
// each either refused as invalid_argument or stored and served finite. Used
// by the contract's value cases, the validation unit tests and the vector
// store's reload test.
#pragma once

#include <cfloat>
#include <limits>
#include <vector>

namespace lifeline::testing {

struct poison {
  const char* name;
  std::vector<float> vector;
  bool accepted; ///< Stored and served (else refused as invalid_argument).
};

/// Two-dimensional poison vectors.
inline std::vector<poison> poisons() {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const float nan_ = std::numeric_limits<float>::quiet_NaN();
  const float min_denormal = std::numeric_limits<float>::denorm_min(); // ~1.4e-45
  return {
    {"tiny: [1e-40, 1e-40] (issue 11)", {1e-40f, 1e-40f}, true},
    {"denormal: [1e-45, 0]", {min_denormal, 0}, true},
    {"denormal and large: [1e-45, 1e15]", {min_denormal, 1e15f}, true},
    {"negative tiny: [-1e-44, 1e-40]", {-1e-44f, 1e-40f}, true},
    {"largest allowed: [1e15, 1e15]", {1e15f, 1e15f}, true},
    {"largest allowed, opposite signs: [-1e15, 1e15]", {-1e15f, 1e15f}, true},
    {"zero: [0, 0]", {0, 0}, true},
    {"huge: [3e38, 3e38]", {3e38f, 3e38f}, false},
    {"float max: [FLT_MAX, 1]", {FLT_MAX, 1}, false},
    {"above the limit: [1e16, 0]", {1e16f, 0}, false},
    {"inf", {inf, 1}, false},
    {"-inf", {1, -inf}, false},
    {"nan", {nan_, 0}, false},
  };
}

} // namespace lifeline::testing
