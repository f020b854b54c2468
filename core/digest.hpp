// The version digest anti-entropy repair compares (actors/repairer): a
// 64-bit FNV-1a hash over a range's (id, version, deleted) entries in id
// order. Every backend folds its entries through these functions, so equal
// contents give equal digests whatever the store. A hash is not a proof, but
// a 64-bit collision between two replicas of one range is far less likely
// than the faults repair is there for. No CAF in here.
#pragma once

#include "core/types.hpp"

#include <cstdint>
#include <vector>

namespace lifeline {

/// Folds entries into a digest one at a time, in id order.
class digest_builder {
public:
  void add(const version_entry& e);
  const range_digest& result() const { return digest_; }

private:
  range_digest digest_{0, 14695981039346656037ull, {}};
};

/// The digest of a whole range of entries.
range_digest digest_of(const std::vector<version_entry>& entries);

} // namespace lifeline
