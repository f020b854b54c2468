// A check job: compares the backends collection by collection and, with
// `repair`, copies the newer version of whatever differs (anti-entropy
// repair, issue 12). It scales with O(page) memory and cheap messages:
//
//   1. The first backend holding the collection (the reference) answers the
//      digest (core/digest.hpp) of up to `page` entries after a cursor:
//      {count, hash, last}. The others answer the digest of (cursor, last],
//      limit page + 1 (a count at the limit differs for sure).
//   2. Equal digests: the range is equal; the cursor moves to `last`.
//   3. Different: every backend lists the range's entries (versions(), ids
//      with version and tombstone flag, limit page + 1; a list at the limit
//      shortens the range to the shortest such list), replication/
//      range_merge decides per id which entry is newest, and repair copies
//      it: a live document is read from a backend holding it and upserted
//      with its own version, a tombstone is applied as remove(id, version).
//      The copies go straight to the backend actors (no new version), and
//      every backend applies a write only if it is not older than what it
//      holds, so a copy never undoes a write that landed meanwhile.
//   4. Past the reference's last entry, the others' tails are compared the
//      same way (the reference answers an empty digest).
// A collection missing on a backend counts as a difference; repair creates
// it from the spec of the first backend that has it.
//
// Writes that land while it runs can show up as differences (a write applied
// on one backend and still on its way to the other): run a check twice, or
// look at the second round of repair. The job reports its progress to the
// coordinator after every range (coordinator_repair.cpp keeps the jobs).
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace lifeline {

class metrics_sink;

struct check_plan {
  uint64_t ticket = 0; ///< Echoed in the progress and report messages.
  std::vector<std::string> names;
  std::vector<backend_actor> backends;
  std::vector<std::string> not_compared;
  /// Entries per compared range.
  uint32_t page = 1000;
  std::chrono::steady_clock::duration call_timeout = std::chrono::seconds(30);
  /// Differences described per collection, at most.
  size_t max_examples = 10;
  /// Copy the newer version of what differs (else only report it).
  bool repair = false;
  /// Ranges compared per second at most (0: no bound): a background round
  /// waits between ranges (a timer, never a blocking sleep).
  double ranges_per_second = 0;
  std::shared_ptr<metrics_sink> metrics; ///< May be null.
};

/// Sends (check_atom, ticket, check_progress) to `coordinator` as it goes
/// and (check_atom, ticket, report) when done.
void spawn_checker(caf::actor_system& sys, check_plan plan, coordinator_actor coordinator);

} // namespace lifeline
