// A consistency check: compares the backends collection by collection, by
// count and then by ids and versions (it reads ids and versions only, a page
// at a time). Writes that land while it runs can show up as differences:
// run it when writes are quiet, or run it twice.
#pragma once

#include "actors/actors.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace lifeline {

struct check_plan {
  uint64_t ticket = 0; ///< Echoed in the report message.
  std::vector<std::string> names;
  std::vector<backend_actor> backends;
  std::vector<std::string> not_compared;
  uint32_t page = 10000;
  std::chrono::steady_clock::duration call_timeout = std::chrono::seconds(30);
  /// Differences described per collection, at most.
  size_t max_examples = 10;
};

/// Sends (check_atom, ticket, report) to `coordinator` when done.
void spawn_checker(caf::actor_system& sys, check_plan plan, coordinator_actor coordinator);

} // namespace lifeline
