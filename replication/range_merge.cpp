#include "replication/range_merge.hpp"

namespace lifeline {

const version_entry& newer(const version_entry& a, const version_entry& b) {
  if (a.version != b.version) return a.version > b.version ? a : b;
  return b.deleted && !a.deleted ? b : a;
}

bool needs(const std::optional<version_entry>& held, const version_entry& newest) {
  if (!held) return !newest.deleted;
  if (held->version != newest.version) return held->version < newest.version;
  return newest.deleted && !held->deleted;
}

bool id_difference::missing() const {
  for (auto& h : held)
    if (!h) return true;
  return false;
}

std::string id_difference::describe(const std::vector<std::string>& names) const {
  std::string text = "id '" + id + "':";
  for (size_t b = 0; b < held.size(); ++b) {
    text += b ? ", " : " ";
    text += b < names.size() ? names[b] : "#" + std::to_string(b);
    if (!held[b]) {
      text += " missing";
    } else {
      text += " v" + std::to_string(held[b]->version);
      if (held[b]->deleted) text += " deleted";
    }
  }
  return text;
}

range_merge merge_ranges(const std::vector<std::vector<version_entry>>& lists) {
  range_merge out;
  auto n = lists.size();
  std::vector<size_t> at(n, 0);
  for (;;) {
    const std::string* lowest = nullptr;
    for (size_t b = 0; b < n; ++b)
      if (at[b] < lists[b].size() && (!lowest || lists[b][at[b]].id < *lowest))
        lowest = &lists[b][at[b]].id;
    if (!lowest) break;
    ++out.ids;
    id_difference d;
    d.id = *lowest;
    d.held.resize(n);
    std::optional<version_entry> best;
    for (size_t b = 0; b < n; ++b) {
      if (at[b] >= lists[b].size() || lists[b][at[b]].id != d.id) continue;
      d.held[b] = lists[b][at[b]++];
      if (!best || &newer(*best, *d.held[b]) != &*best) {
        best = *d.held[b];
        d.source = b;
      }
    }
    d.newest = *best;
    for (size_t b = 0; b < n; ++b)
      if (needs(d.held[b], d.newest)) d.targets.push_back(b);
    if (!d.targets.empty()) out.differences.push_back(std::move(d));
  }
  return out;
}

} // namespace lifeline
