// The documents the crash-recovery writer writes: a pure function of their
// number, so the test can tell a complete document from a damaged one.
#pragma once

#include "core/types.hpp"

#include <string>

namespace lifeline::testing {

inline collection_spec crash_collection() { return {"crash", 4, metric::l2}; }

inline document crash_doc(uint64_t i) {
  auto f = float(i);
  return document{"doc-" + std::to_string(i), {f, f + 0.5f, -f, 1.0f},
                  "content of " + std::to_string(i) + std::string(i % 50, '.'),
                  "{\"n\":" + std::to_string(i) + "}", i};
}

} // namespace lifeline::testing
