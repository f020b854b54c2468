// Documents for the tests of concurrent writes to the vector store: a pure
// function of (id, version), so a test can tell which write a stored
// document came from, and that it is complete.
#pragma once

#include "core/types.hpp"

#include <functional>
#include <random>
#include <string>

namespace lifeline::testing {

inline collection_spec parallel_collection() { return {"parallel", 8, metric::l2}; }

inline document parallel_doc(const std::string& id, uint64_t version) {
  std::mt19937_64 rng{std::hash<std::string>{}(id) ^ (version * 0x9e3779b97f4a7c15ull)};
  std::uniform_real_distribution<float> u{-1, 1};
  std::vector<float> v(parallel_collection().dimension);
  for (auto& x : v) x = u(rng);
  return document{id, std::move(v), "v" + std::to_string(version) + " of " + id, "", version};
}

/// Which id the write number `n` of writer `writer` touches besides its own
/// ids: one of a few ids every writer writes (so writes overlap).
inline std::string shared_id(uint64_t n) { return "shared-" + std::to_string(n % 7); }
inline std::string own_id(int writer, uint64_t n) {
  return "w" + std::to_string(writer) + "-" + std::to_string(n % 40);
}

} // namespace lifeline::testing
