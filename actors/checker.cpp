#include "actors/checker.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <set>

namespace lifeline {

namespace {

using id_versions = std::vector<std::pair<std::string, uint64_t>>;

struct checker_state {
  check_plan plan;
  coordinator_actor coordinator;
  consistency_report report;
  std::vector<std::set<std::string>> has; ///< Collections per backend.
  std::vector<std::string> collections;   ///< Union, sorted.
  size_t current = 0;
  size_t backend = 0;
  std::string after;
  std::vector<id_versions> ids; ///< Per backend, for the current collection.
  static inline const char* name = "lifeline.checker";
};

using checker_pointer = caf::stateful_actor<checker_state>*;

void done(checker_pointer self) {
  auto& st = self->state;
  self->send(st.coordinator, check_atom::value, st.plan.ticket, std::move(st.report));
  self->quit();
}

auto fail_with(checker_pointer self) {
  return [self](caf::error& err) {
    auto& st = self->state;
    st.report.error = "backend " + st.plan.names[st.backend] + ": " + describe(err);
    done(self);
  };
}

std::string describe_version(const std::string& backend, const id_versions& ids, size_t at,
                             const std::string& id) {
  if (at < ids.size() && ids[at].first == id)
    return backend + " v" + std::to_string(ids[at].second);
  return backend + " missing";
}

/// Merges the sorted id lists of every backend.
collection_check compare(checker_state& st) {
  collection_check c;
  c.collection = st.collections[st.current];
  auto n = st.ids.size();
  for (auto& list : st.ids) c.counts.push_back(list.size());
  for (size_t b = 0; b < n; ++b) {
    if (st.has[b].count(c.collection)) continue;
    ++c.missing; // the collection itself
    if (c.examples.size() < st.plan.max_examples)
      c.examples.push_back("collection missing on " + st.plan.names[b]);
  }
  std::vector<size_t> at(n, 0);
  for (;;) {
    const std::string* lowest = nullptr;
    for (size_t b = 0; b < n; ++b)
      if (at[b] < st.ids[b].size() && (!lowest || st.ids[b][at[b]].first < *lowest))
        lowest = &st.ids[b][at[b]].first;
    if (!lowest) break;
    auto id = *lowest;
    bool missing = false, mismatched = false;
    std::optional<uint64_t> version;
    for (size_t b = 0; b < n; ++b) {
      if (at[b] >= st.ids[b].size() || st.ids[b][at[b]].first != id) {
        missing = true;
        continue;
      }
      auto v = st.ids[b][at[b]].second;
      if (version && *version != v) mismatched = true;
      version = v;
    }
    if (missing || mismatched) {
      missing ? ++c.missing : ++c.mismatched;
      if (c.examples.size() < st.plan.max_examples) {
        std::string text = "id '" + id + "':";
        for (size_t b = 0; b < n; ++b)
          text += (b ? ", " : " ") + describe_version(st.plan.names[b], st.ids[b], at[b], id);
        c.examples.push_back(std::move(text));
      }
    }
    for (size_t b = 0; b < n; ++b)
      if (at[b] < st.ids[b].size() && st.ids[b][at[b]].first == id) ++at[b];
  }
  return c;
}

void scan_next(checker_pointer self) {
  auto& st = self->state;
  if (st.backend == st.plan.backends.size()) {
    st.report.collections.push_back(compare(st));
    ++st.current;
    st.backend = 0;
    st.ids.assign(st.plan.backends.size(), {});
    if (st.current == st.collections.size()) return done(self);
    return scan_next(self);
  }
  auto& name = st.collections[st.current];
  if (!st.has[st.backend].count(name)) { // lacks the whole collection
    ++st.backend;
    return scan_next(self);
  }
  scan_request req{name, st.after, st.plan.page, false};
  self->request(st.plan.backends[st.backend], st.plan.call_timeout, scan_atom::value, req)
    .then(
      [self](std::vector<document>& docs) {
        auto& st = self->state;
        for (auto& d : docs) st.ids[st.backend].emplace_back(std::move(d.id), d.version);
        if (docs.size() < st.plan.page) {
          ++st.backend;
          st.after.clear();
        } else {
          st.after = st.ids[st.backend].back().first;
        }
        scan_next(self);
      },
      fail_with(self));
}

void list_next(checker_pointer self) {
  auto& st = self->state;
  if (st.backend == st.plan.backends.size()) {
    std::set<std::string> all;
    for (auto& names : st.has) all.insert(names.begin(), names.end());
    st.collections.assign(all.begin(), all.end());
    st.backend = 0;
    st.ids.assign(st.plan.backends.size(), {});
    if (st.collections.empty()) return done(self);
    return scan_next(self);
  }
  self->request(st.plan.backends[st.backend], st.plan.call_timeout, list_atom::value)
    .then(
      [self](std::vector<collection_spec>& specs) {
        auto& st = self->state;
        for (auto& s : specs) st.has[st.backend].insert(s.name);
        ++st.backend;
        list_next(self);
      },
      fail_with(self));
}

caf::behavior checker(checker_pointer self, check_plan plan, coordinator_actor coordinator) {
  auto& st = self->state;
  st.plan = std::move(plan);
  st.coordinator = std::move(coordinator);
  st.report.backends = st.plan.names;
  st.report.not_compared = st.plan.not_compared;
  st.has.resize(st.plan.backends.size());
  list_next(self);
  // Everything happens in response handlers; this one is never used.
  return {[](ok_atom) {}};
}

} // namespace

void spawn_checker(caf::actor_system& sys, check_plan plan, coordinator_actor coordinator) {
  sys.spawn(checker, std::move(plan), std::move(coordinator));
}

} // namespace lifeline
