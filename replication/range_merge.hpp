// The id-by-id half of anti-entropy repair (actors/checker.cpp): once two
// backends' digests of an id range differ, each lists the range's entries
// (id, version, deleted) and this merges the lists, deciding for every id
// that differs which entry wins and which backends must be given it. No CAF
// in here, so the rule is tested on its own.
//
// The rule (last writer wins, as every backend applies writes):
// - the highest version wins;
// - at equal versions a tombstone wins over a live copy. One version is one
//   write, so this only happens if a store is damaged; picking the delete
//   matches the backends' own rule (a delete at version v applies over a
//   document at v) and never brings back a document someone deleted;
// - a tombstone against no entry at all is not a difference: both read as
//   "not found", rebuilds copy live documents only, and purges drop
//   tombstones on each backend at its own time. Such a range's digests stay
//   different until the tombstone is purged; it costs a merge, never a copy.
#pragma once

#include "core/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lifeline {

/// One id whose backends differ.
struct id_difference {
  std::string id;
  /// What each backend holds (nullopt: nothing), in the order given.
  std::vector<std::optional<version_entry>> held;
  version_entry newest;
  size_t source = 0;           ///< A backend holding `newest`.
  std::vector<size_t> targets; ///< Backends to give `newest` to.
  /// Some backend holds nothing for it (else: versions differ).
  bool missing() const;
  /// "id 'a': primary v3, secondary v2 deleted, third missing".
  std::string describe(const std::vector<std::string>& names) const;
};

struct range_merge {
  uint64_t ids = 0; ///< Distinct ids seen.
  std::vector<id_difference> differences;
};

/// Merges per-backend lists of one range, each sorted by id.
range_merge merge_ranges(const std::vector<std::vector<version_entry>>& lists);

/// Whether `held` must be given `newest` (see the rule above).
bool needs(const std::optional<version_entry>& held, const version_entry& newest);

/// The winner of two entries of one id.
const version_entry& newer(const version_entry& a, const version_entry& b);

} // namespace lifeline
