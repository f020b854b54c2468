// The copying half of anti-entropy repair (see actors/checker.hpp): gives
// each backend that lacks it the newest entry of an id, straight through
// the backend actors, keeping the entry's version. Safe against concurrent
// writes because every backend applies a write only if it is not older than
// what it holds: an upsert or remove carrying an older version is ignored.
// A copy that fails is counted as not repaired (the next round finds it
// again); it never fails the job.
#include "actors/checker_state.hpp"

#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

/// Counts what a copy to the backends in `targets` achieved.
void account(checker_pointer self, const id_difference& d, const std::vector<std::string>& errors) {
  auto& st = self->state;
  bool all = true;
  for (auto b : d.targets) {
    if (!errors[b].empty()) {
      all = false;
      log().warn("repair: {} '{}' on backend {}: {}", st.collection(), d.id, st.plan.names[b],
                 errors[b]);
      continue;
    }
    if (st.plan.metrics) st.plan.metrics->repair_copied(st.plan.names[b], 1);
  }
  if (all) {
    ++st.col.repaired;
    ++st.progress.repaired;
  }
}

} // namespace

void repair_next(checker_pointer self) {
  auto& st = self->state;
  if (st.to_repair.empty()) {
    auto next = std::move(st.after_repair);
    return next();
  }
  auto d = std::make_shared<id_difference>(std::move(st.to_repair.front()));
  st.to_repair.pop_front();
  auto& name = st.collection();
  if (d->newest.deleted) {
    gather<bool>(self, d->targets, [self, d](replies<bool>& r) {
      account(self, *d, r.error);
      repair_next(self);
    }, remove_atom::value, name, d->id, d->newest.version);
    return;
  }
  self->request(st.plan.backends[d->source], st.plan.call_timeout, get_atom::value, name, d->id)
    .then(
      [self, d](document& doc) {
        std::vector<document> one{std::move(doc)};
        gather<ok_atom>(self, d->targets, [self, d](replies<ok_atom>& r) {
          account(self, *d, r.error);
          repair_next(self);
        }, upsert_atom::value, self->state.collection(), std::move(one));
      },
      [self, d](caf::error& err) {
        // Deleted (or changed) on the source since it was listed: the next
        // round compares it again.
        log().info("repair: {} '{}' not copied: reading it from backend {} failed: {}",
                   self->state.collection(), d->id, self->state.plan.names[d->source],
                   describe(err));
        repair_next(self);
      });
}

void create_missing(checker_pointer self, std::function<void()> then) {
  auto& st = self->state;
  std::vector<size_t> lacking;
  std::optional<collection_spec> spec;
  for (size_t b = 0; b < st.size(); ++b) {
    if (!st.holds[b]) lacking.push_back(b);
    else if (!spec) spec = st.specs[b].at(st.collection());
  }
  if (lacking.empty() || !spec) return then();
  gather<bool>(self, lacking, [self, lacking, then = std::move(then)](replies<bool>& r) {
    auto& st = self->state;
    for (auto b : lacking) {
      if (!r.error[b].empty()) {
        log().warn("repair: creating collection {} on backend {} failed: {}", st.collection(),
                   st.plan.names[b], r.error[b]);
        continue;
      }
      log().info("repair: created collection {} on backend {}", st.collection(), st.plan.names[b]);
      st.holds[b] = true;
      ++st.col.repaired;
      ++st.progress.repaired;
      if (st.plan.metrics) st.plan.metrics->repair_copied(st.plan.names[b], 1);
    }
    then();
  }, create_atom::value, *spec);
}

} // namespace lifeline::detail
