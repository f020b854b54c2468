// The walk of a check job over collections and id ranges (the scheme is in
// checker.hpp); the copies are in repairer.cpp.
#include "actors/checker_state.hpp"

#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

namespace lifeline::detail {

namespace {

void next_collection(checker_pointer self);
void next_range(checker_pointer self);

void done(checker_pointer self) {
  auto& st = self->state;
  report_progress(self);
  self->send(st.coordinator, check_atom::value, st.plan.ticket, std::move(st.report));
  self->quit();
}

/// Every backend that has the current collection.
std::vector<size_t> holders(const checker_state& st) {
  std::vector<size_t> out;
  for (size_t b = 0; b < st.size(); ++b)
    if (st.holds[b]) out.push_back(b);
  return out;
}

void collection_done(checker_pointer self) {
  auto& st = self->state;
  st.report.collections.push_back(std::move(st.col));
  ++st.progress.collections_done;
  ++st.current;
  report_progress(self);
  next_collection(self);
}

/// The range (after, up_to] was compared: move on, at the configured rate.
void advance(checker_pointer self, std::string up_to) {
  auto& st = self->state;
  st.after = std::move(up_to);
  ++st.progress.ranges;
  if (st.plan.metrics) st.plan.metrics->repair_ranges(1);
  report_progress(self);
  if (st.plan.ranges_per_second > 0) {
    auto pause = std::chrono::duration<double>(1.0 / st.plan.ranges_per_second);
    self->delayed_send(self, std::chrono::duration_cast<std::chrono::milliseconds>(pause),
                       repair_atom::value);
    return;
  }
  next_range(self);
}

/// The digests of (after, up_to] differ: list and merge the entries.
void compare_entries(checker_pointer self, std::string up_to) {
  auto& st = self->state;
  auto limit = st.plan.page + 1;
  range_request req{st.collection(), st.after, up_to, limit};
  gather<std::vector<version_entry>>(self, holders(st), [self, up_to](replies<std::vector<version_entry>>& r) mutable {
    auto& st = self->state;
    if (auto err = r.first_error(st.plan.names); !err.empty()) return fail(self, err);
    std::vector<std::vector<version_entry>> lists(st.size());
    for (size_t b = 0; b < st.size(); ++b)
      if (r.value[b]) lists[b] = std::move(*r.value[b]);
    // A list at the limit may go on past it: compare only up to the
    // shortest such list's last id, where every list is complete.
    for (auto& l : lists)
      if (l.size() >= st.plan.page + 1 && l.back().id < up_to) up_to = l.back().id;
    for (auto& l : lists)
      while (!l.empty() && l.back().id > up_to) l.pop_back();
    auto merged = merge_ranges(lists);
    st.progress.ids += merged.ids;
    for (auto& d : merged.differences) {
      d.missing() ? ++st.col.missing : ++st.col.mismatched;
      ++st.progress.differences;
      for (auto b : d.targets)
        if (st.plan.metrics) st.plan.metrics->repair_difference(st.plan.names[b], 1);
      if (st.col.examples.size() < st.plan.max_examples)
        st.col.examples.push_back(d.describe(st.plan.names));
      if (st.plan.repair) st.to_repair.push_back(std::move(d));
    }
    st.after_repair = [self, up_to] { advance(self, up_to); };
    repair_next(self);
  }, versions_atom::value, req);
}

void next_range(checker_pointer self) {
  auto& st = self->state;
  auto all = holders(st);
  if (all.empty()) return collection_done(self);
  auto ref = all.front();
  std::vector<size_t> others(all.begin() + 1, all.end());
  range_request first{st.collection(), st.after, "", st.plan.page};
  // A backend lacking the collection (a check without repair) holds an
  // empty range: any entry the others hold differs.
  bool lacking = all.size() < st.size();
  gather<range_digest>(self, {ref}, [self, ref, others, lacking](replies<range_digest>& r) {
    auto& st = self->state;
    if (auto err = r.first_error(st.plan.names); !err.empty()) return fail(self, err);
    auto mine = *r.value[ref];
    if (mine.count == 0) {
      // Past the reference's last id: whatever the others hold differs.
      range_request tail{st.collection(), st.after, "", st.plan.page};
      gather<range_digest>(self, others, [self, others](replies<range_digest>& t) {
        auto& st = self->state;
        if (auto err = t.first_error(st.plan.names); !err.empty()) return fail(self, err);
        std::optional<std::string> up_to;
        for (auto b : others)
          if (t.value[b]->count > 0 && (!up_to || t.value[b]->last < *up_to)) up_to = t.value[b]->last;
        if (!up_to) return collection_done(self);
        compare_entries(self, *up_to);
      }, digest_atom::value, tail);
      return;
    }
    range_request same{st.collection(), st.after, mine.last, st.plan.page + 1};
    gather<range_digest>(self, others, [self, others, mine, lacking](replies<range_digest>& t) {
      auto& st = self->state;
      if (auto err = t.first_error(st.plan.names); !err.empty()) return fail(self, err);
      bool equal = !lacking;
      for (auto b : others) equal = equal && *t.value[b] == mine;
      if (!equal) return compare_entries(self, mine.last);
      st.progress.ids += mine.count;
      advance(self, mine.last);
    }, digest_atom::value, same);
  }, digest_atom::value, first);
}

/// Live documents per backend, for the report (as found, before repair).
void count_documents(checker_pointer self) {
  auto& st = self->state;
  gather<collection_stats>(self, holders(st), [self](replies<collection_stats>& r) {
    auto& st = self->state;
    if (auto err = r.first_error(st.plan.names); !err.empty()) return fail(self, err);
    for (size_t b = 0; b < st.size(); ++b)
      if (r.value[b]) st.col.counts[b] = r.value[b]->count;
    st.after.clear();
    if (!st.plan.repair) return next_range(self);
    create_missing(self, [self] { next_range(self); });
  }, stats_atom::value, st.collection());
}

void next_collection(checker_pointer self) {
  auto& st = self->state;
  if (st.current == st.collections.size()) return done(self);
  auto& name = st.collection();
  st.col = collection_check{};
  st.col.collection = name;
  st.col.counts.assign(st.size(), 0);
  st.holds.assign(st.size(), false);
  for (size_t b = 0; b < st.size(); ++b) {
    st.holds[b] = st.specs[b].count(name) > 0;
    if (st.holds[b]) continue;
    ++st.col.missing; // the collection itself
    ++st.progress.differences;
    if (st.plan.metrics) st.plan.metrics->repair_difference(st.plan.names[b], 1);
    if (st.col.examples.size() < st.plan.max_examples)
      st.col.examples.push_back("collection missing on " + st.plan.names[b]);
  }
  count_documents(self);
}

caf::behavior checker(checker_pointer self, check_plan plan, coordinator_actor coordinator) {
  auto& st = self->state;
  st.plan = std::move(plan);
  st.plan.page = std::max<uint32_t>(st.plan.page, 1);
  st.coordinator = std::move(coordinator);
  st.report.backends = st.plan.names;
  st.report.not_compared = st.plan.not_compared;
  st.specs.resize(st.size());
  // A job dies with its coordinator: a rate-limited round waiting on its
  // timer must not hold up the actor system's shutdown.
  self->monitor(st.coordinator);
  self->set_down_handler([self](const caf::down_msg&) { self->quit(); });
  std::vector<size_t> all(st.size());
  for (size_t b = 0; b < all.size(); ++b) all[b] = b;
  gather<std::vector<collection_spec>>(self, all, [self](replies<std::vector<collection_spec>>& r) {
    auto& st = self->state;
    if (auto err = r.first_error(st.plan.names); !err.empty()) return fail(self, err);
    std::set<std::string> names;
    for (size_t b = 0; b < st.size(); ++b)
      for (auto& s : *r.value[b]) {
        names.insert(s.name);
        st.specs[b].emplace(s.name, s);
      }
    st.collections.assign(names.begin(), names.end());
    st.progress.collections_total = st.collections.size();
    report_progress(self);
    next_collection(self);
  }, list_atom::value);
  return {
    // The pause between two ranges of a rate-limited round is over.
    [self](repair_atom) { next_range(self); },
  };
}

} // namespace

void fail(checker_pointer self, std::string why) {
  auto& st = self->state;
  st.report.error = std::move(why);
  // What was compared so far still tells something.
  if (!st.col.collection.empty() && st.current < st.collections.size())
    st.report.collections.push_back(std::move(st.col));
  done(self);
}

void report_progress(checker_pointer self) {
  auto& st = self->state;
  self->send(st.coordinator, check_atom::value, st.plan.ticket, st.progress);
}

} // namespace lifeline::detail

namespace lifeline {

void spawn_checker(caf::actor_system& sys, check_plan plan, coordinator_actor coordinator) {
  sys.spawn(detail::checker, std::move(plan), std::move(coordinator));
}

} // namespace lifeline
