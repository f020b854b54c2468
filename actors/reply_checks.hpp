// Checks a backend's read replies before anyone sees them: the backend
// actor's workers and the direct read path (direct_reads.hpp) both use them,
// so a read answers the same whichever way it went.
#pragma once

#include "core/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lifeline {

/// True if every component is finite.
bool finite(const std::vector<float>& v);

/// Drops hits with a non-finite distance (one damaged document each), logs
/// them, and ranks the rest again.
void drop_damaged_hits(std::vector<search_hit>& hits, const search_query& q);

/// A structural break in a search reply (more than k hits, out of order, an
/// id twice), or nothing.
std::optional<std::string> check_hits(const std::vector<search_hit>& hits, uint32_t k);

} // namespace lifeline
