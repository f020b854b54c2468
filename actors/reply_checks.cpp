#include "actors/reply_checks.hpp"

#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <string_view>
#include <unordered_set>

namespace lifeline {

bool finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

/// A search hit with a non-finite distance is one damaged document (no
/// validated input can produce one, see max_component; a vector written by
/// an older version can): it is dropped from the results, logged and the
/// search answers with the others. A user searching expects the nearest
/// documents that can be served, not a failed search for everyone because
/// one document cannot be ranked; the damaged one still answers its own get
/// with corrupt_document, which names it. Only the drop is a repair: the
/// other checks below stay structural (the worker crashes).
void drop_damaged_hits(std::vector<search_hit>& hits, const search_query& q) {
  auto damaged = [](const search_hit& h) { return !std::isfinite(h.distance); };
  if (std::none_of(hits.begin(), hits.end(), damaged)) return;
  for (auto& h : hits)
    if (damaged(h))
      log().warn("search in '{}': document '{}' has a non-finite distance ({}); left out of "
                 "the results (its stored vector is damaged)",
                 q.collection, h.id, h.distance);
  std::erase_if(hits, damaged);
  // A NaN among the distances made the backend's own ranking meaningless
  // (no strict weak order): rank what is left again, as every backend does.
  std::stable_sort(hits.begin(), hits.end(), [](const search_hit& a, const search_hit& b) {
    return a.distance < b.distance || (a.distance == b.distance && a.id < b.id);
  });
}

std::optional<std::string> check_hits(const std::vector<search_hit>& hits, uint32_t k) {
  if (hits.size() > k)
    return "search returned " + std::to_string(hits.size()) + " hits for k=" + std::to_string(k);
  std::unordered_set<std::string_view> seen;
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i > 0 && hits[i].distance < hits[i - 1].distance)
      return std::string{"search results are not ordered nearest first"};
    if (!seen.insert(hits[i].id).second) return "search returned id '" + hits[i].id + "' twice";
  }
  return std::nullopt;
}

} // namespace lifeline
