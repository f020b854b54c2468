#include "actors/recovery.hpp"

#include "core/log.hpp"
#include "metrics/metrics.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>

namespace lifeline {

namespace {

constexpr uint64_t unknown_pending = ~uint64_t{0};

struct recovery_state {
  recovery_plan plan;
  coordinator_actor coordinator;
  std::vector<collection_spec> collections; ///< The peer's, being copied.
  size_t current = 0;                       ///< Index into collections.
  std::string after;                        ///< Scan position.
  std::unordered_set<std::string> copied;   ///< Ids copied into the current one.
  uint64_t copied_total = 0;
  uint64_t skipped_total = 0;               ///< Documents left out (see skip).
  /// The peer's documents when the rebuild began (0: unknown), for the
  /// progress the coordinator reports.
  uint64_t peer_total = 0;
  /// Collection drops and creates: (true, spec) drops spec.name.
  std::deque<std::pair<bool, collection_spec>> steps;
  static inline const char* name = "lifeline.recovery";
};

using recovery_pointer = caf::stateful_actor<recovery_state>*;

void replay(recovery_pointer self);
void copy_page(recovery_pointer self);
void delete_stale_page(recovery_pointer self);

void finish(recovery_pointer self, uint64_t drained, caf::error err) {
  auto& st = self->state;
  self->send(st.coordinator, recovered_atom::value, st.plan.index, st.plan.job, drained,
             std::move(err));
  self->quit();
}

auto fail_with(recovery_pointer self) {
  return [self](caf::error& err) { finish(self, 0, std::move(err)); };
}

void progress(recovery_pointer self, uint64_t pending, uint64_t replayed = 0) {
  auto& st = self->state;
  self->send(st.coordinator, progress_atom::value, st.plan.index, st.plan.job, st.copied_total,
             pending, replayed, st.peer_total);
}

// -- replay: the handoff log, in order ----------------------------------------

/// Consecutive upserts into one collection, from entry k: how many entries
/// go into one request (at most `max_docs` documents), and their documents.
/// Versions decide per document, so merging changes nothing but the count
/// of round trips.
size_t merge_upserts(const std::vector<handoff_entry>& entries, size_t k, size_t max_docs,
                     std::vector<document>& docs) {
  size_t n = 0;
  while (k + n < entries.size()) {
    auto& e = entries[k + n];
    if (e.op != handoff_entry::kind::upsert || e.collection != entries[k].collection) break;
    if (n > 0 && docs.size() + e.docs.size() > max_docs) break;
    docs.insert(docs.end(), e.docs.begin(), e.docs.end());
    ++n;
  }
  return n;
}

void apply_entries(recovery_pointer self, std::shared_ptr<handoff_page> page, size_t k,
                   bool merge = true);

void apply_entries(recovery_pointer self, std::shared_ptr<handoff_page> page, size_t k,
                   bool merge) {
  auto& st = self->state;
  auto& entries = page->batch.entries;
  if (k == entries.size()) {
    self->request(st.plan.hints, st.plan.call_timeout, consume_atom::value,
                  page->batch.end_offset, uint64_t{entries.size()})
      .then(
        [self, n = uint64_t{entries.size()}](uint64_t pending) {
          progress(self, pending, n);
          replay(self);
        },
        fail_with(self));
    return;
  }
  auto& e = entries[k];
  auto next = [self, page, k] { apply_entries(self, page, k + 1); };
  auto failed = [self, next, drop = e.op == handoff_entry::kind::drop](caf::error& err) {
    if (drop && is(err, errc::not_found)) return next(); // already gone
    if (self->state.plan.skip_refused && is_client_error(err)) {
      log().warn("backend {}: replayed write refused after a rebuild, skipped: {}",
                 self->state.plan.backend, describe(err));
      return next();
    }
    finish(self, 0, std::move(err));
  };
  auto t = st.plan.call_timeout;
  auto& target = st.plan.target;
  switch (e.op) {
    case handoff_entry::kind::create:
      self->request(target, t, create_atom::value, e.spec).then([next](bool) { next(); }, failed);
      break;
    case handoff_entry::kind::drop:
      self->request(target, t, drop_atom::value, e.collection).then([next](ok_atom) { next(); }, failed);
      break;
    case handoff_entry::kind::upsert: {
      std::vector<document> docs;
      auto n = merge ? merge_upserts(entries, k, 1000, docs) : 1;
      if (n <= 1) {
        self->request(target, t, upsert_atom::value, e.collection, e.docs)
          .then([next](ok_atom) { next(); }, failed);
        break;
      }
      self->request(target, t, upsert_atom::value, e.collection, std::move(docs))
        .then([self, page, k, n](ok_atom) { apply_entries(self, page, k + n); },
              [self, page, k](caf::error& err) {
                // Refused as a whole: one entry at a time, to find which.
                if (is_client_error(err)) return apply_entries(self, page, k, false);
                finish(self, 0, std::move(err));
              });
      break;
    }
    case handoff_entry::kind::remove:
      self->request(target, t, remove_atom::value, e.collection, e.id, e.version)
        .then([next](bool) { next(); }, failed);
      break;
  }
}

void replay(recovery_pointer self) {
  auto& st = self->state;
  self->request(st.plan.hints, st.plan.call_timeout, peek_atom::value, st.plan.page)
    .then(
      [self](handoff_page& page) {
        if (page.batch.entries.empty()) return finish(self, page.appended_total, caf::error{});
        apply_entries(self, std::make_shared<handoff_page>(std::move(page)), 0);
      },
      fail_with(self));
}

/// Stores the new marker in the target, then with the coordinator's durable
/// state (in this order: a crash in between leaves them different, which
/// means another rebuild).
void store_marker(recovery_pointer self) {
  auto& st = self->state;
  if (st.plan.new_marker.empty()) return replay(self);
  self->request(st.plan.target, st.plan.call_timeout, marker_atom::value, st.plan.new_marker)
    .then(
      [self](ok_atom) {
        auto& st = self->state;
        self->request(st.plan.markers, st.plan.call_timeout, marker_atom::value,
                      st.plan.backend, st.plan.new_marker)
          .then([self](ok_atom) { replay(self); }, fail_with(self));
      },
      fail_with(self));
}

// -- rebuild: copy the peer, then delete what the peer does not have ----------

/// A document of the peer that the target refuses as invalid, or that fails
/// the check a read would apply (a non-finite vector, e.g. written by an
/// older version), is left out of the copy: logged and counted, and the
/// rebuild goes on. Stopping instead would fail the rebuild, and every retry
/// of it, for good: the backend would never serve again. Left out, it is
/// not in `copied`, so a stale copy of it on the target is deleted too (the
/// target holds no version of it then, rather than an older one).
void skip(recovery_pointer self, const std::string& id, const std::string& why) {
  auto& st = self->state;
  ++st.skipped_total;
  log().error("backend {}: rebuild from {} skipped document '{}' in '{}': {}", st.plan.backend,
              st.plan.peer_name, id, st.collections[st.current].name, why);
  if (st.plan.metrics) st.plan.metrics->rebuild_skipped(st.plan.backend, 1);
}

bool finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

void next_collection(recovery_pointer self) {
  auto& st = self->state;
  ++st.current;
  st.after.clear();
  st.copied.clear();
  if (st.current == st.collections.size()) {
    log().info("backend {}: rebuilt from {} ({} documents copied, {} skipped)", st.plan.backend,
               st.plan.peer_name, st.copied_total, st.skipped_total);
    return store_marker(self);
  }
  copy_page(self);
}

/// Deletes `doomed` (ids and the target's versions) from the target. An id
/// the peer holds as a tombstone newer than the target's copy is deleted at
/// the tombstone's version, so both hold the same tombstone (deleted at the
/// floor instead, the two would differ and every check until a repair round
/// would report it). Any other id is deleted at the floor: below every write
/// in flight, so a write that lands during the rebuild is not undone.
void delete_stale(recovery_pointer self, std::vector<version_entry> doomed,
                  std::vector<version_entry> peer_tombstones, bool last) {
  auto& st = self->state;
  std::unordered_map<std::string, uint64_t> tombstone;
  for (auto& e : peer_tombstones)
    if (e.deleted) tombstone[e.id] = e.version;
  auto stale = std::make_shared<size_t>(doomed.size());
  for (auto& d : doomed) {
    auto it = tombstone.find(d.id);
    auto version = it != tombstone.end() && it->second > d.version && it->second <= st.plan.floor
                     ? it->second
                     : st.plan.floor;
    self->request(st.plan.target, st.plan.call_timeout, remove_atom::value,
                  st.collections[st.current].name, d.id, version)
      .then(
        [self, stale, last](bool) {
          if (--*stale == 0) last ? next_collection(self) : delete_stale_page(self);
        },
        fail_with(self));
  }
}

void delete_stale_page(recovery_pointer self) {
  auto& st = self->state;
  auto& name = st.collections[st.current].name;
  scan_request req{name, st.after, st.plan.page, false};
  self->request(st.plan.target, st.plan.call_timeout, scan_atom::value, req)
    .then(
      [self](std::vector<document>& docs) {
        auto& st = self->state;
        bool last = docs.size() < st.plan.page;
        auto from = st.after;
        if (!docs.empty()) st.after = docs.back().id;
        std::vector<version_entry> doomed;
        for (auto& d : docs)
          if (!st.copied.count(d.id)) doomed.push_back({std::move(d.id), d.version, false});
        if (doomed.empty()) return last ? next_collection(self) : delete_stale_page(self);
        // The peer's tombstones in this page's range of ids (a peer that
        // cannot list them: every id is deleted at the floor).
        range_request range{st.collections[st.current].name, from, doomed.back().id,
                            std::max<uint32_t>(st.plan.page, 1000) * 4};
        self->request(st.plan.peer, st.plan.call_timeout, versions_atom::value, range)
          .then(
            [self, doomed, last](std::vector<version_entry>& peer) {
              delete_stale(self, doomed, std::move(peer), last);
            },
            [self, doomed, last](caf::error&) { delete_stale(self, doomed, {}, last); });
      },
      fail_with(self));
}

/// Copies docs[k...] to the target one at a time, skipping each it refuses
/// as invalid, then calls `done`.
void copy_each(recovery_pointer self, std::shared_ptr<std::vector<document>> docs, size_t k,
               std::function<void()> done) {
  auto& st = self->state;
  if (k == docs->size()) {
    progress(self, unknown_pending);
    return done();
  }
  self->request(st.plan.target, st.plan.call_timeout, upsert_atom::value,
                st.collections[st.current].name, std::vector<document>{(*docs)[k]})
    .then(
      [self, docs, k, done](ok_atom) {
        auto& st = self->state;
        st.copied.insert((*docs)[k].id);
        ++st.copied_total;
        copy_each(self, docs, k + 1, done);
      },
      [self, docs, k, done](caf::error& err) {
        if (!is(err, errc::invalid_argument)) return finish(self, 0, std::move(err));
        skip(self, (*docs)[k].id, "refused: " + describe(err));
        copy_each(self, docs, k + 1, done);
      });
}

void copy_page(recovery_pointer self) {
  auto& st = self->state;
  auto& name = st.collections[st.current].name;
  scan_request req{name, st.after, st.plan.page, true};
  self->request(st.plan.peer, st.plan.call_timeout, scan_atom::value, req)
    .then(
      [self](std::vector<document>& docs) {
        auto& st = self->state;
        bool last = docs.size() < st.plan.page;
        auto done = [self, last] {
          auto& st = self->state;
          if (!last) return copy_page(self);
          st.after.clear();
          delete_stale_page(self);
        };
        if (docs.empty()) return done();
        st.after = docs.back().id;
        auto good = std::make_shared<std::vector<document>>();
        good->reserve(docs.size());
        for (auto& d : docs) {
          if (finite(d.vector)) good->push_back(std::move(d));
          else skip(self, d.id, "it holds a non-finite vector");
        }
        if (good->empty()) return done();
        self->request(st.plan.target, st.plan.call_timeout, upsert_atom::value,
                      st.collections[st.current].name, *good)
          .then(
            [self, good, done](ok_atom) {
              auto& st = self->state;
              for (auto& d : *good) st.copied.insert(d.id);
              st.copied_total += good->size();
              progress(self, unknown_pending);
              done();
            },
            [self, good, done](caf::error& err) {
              // Refused as a whole: one document at a time, to skip the
              // ones refused.
              if (is(err, errc::invalid_argument)) return copy_each(self, good, 0, done);
              finish(self, 0, std::move(err));
            });
      },
      [self](caf::error& err) {
        // Dropped on the peer meanwhile: the drop reaches the target too.
        if (is(err, errc::not_found)) return next_collection(self);
        finish(self, 0, std::move(err));
      });
}

/// Runs the queued collection drops and creates one after another, then
/// copies each collection.
void run_steps(recovery_pointer self) {
  auto& st = self->state;
  if (st.steps.empty()) {
    st.current = 0;
    if (st.collections.empty()) return store_marker(self);
    return copy_page(self);
  }
  auto [drop, spec] = std::move(st.steps.front());
  st.steps.pop_front();
  auto& target = st.plan.target;
  if (drop)
    self->request(target, st.plan.call_timeout, drop_atom::value, std::move(spec.name))
      .then([self](ok_atom) { run_steps(self); }, fail_with(self));
  else
    self->request(target, st.plan.call_timeout, create_atom::value, std::move(spec))
      .then([self](bool) { run_steps(self); }, fail_with(self));
}

/// Counts the peer's documents, collection k on (for the progress: done
/// out of total), then runs the steps. A count that fails leaves the total
/// unknown; the rebuild goes on.
void count_peer(recovery_pointer self, size_t k) {
  auto& st = self->state;
  if (k == st.collections.size()) {
    progress(self, unknown_pending);
    return run_steps(self);
  }
  self->request(st.plan.peer, st.plan.call_timeout, stats_atom::value, st.collections[k].name)
    .then(
      [self, k](collection_stats& c) {
        self->state.peer_total += c.count;
        count_peer(self, k + 1);
      },
      [self](caf::error&) {
        self->state.peer_total = 0;
        run_steps(self);
      });
}

/// Makes the target's collections match the peer's, then copies each.
void rebuild(recovery_pointer self) {
  auto& st = self->state;
  log().info("backend {}: rebuilding from {}", st.plan.backend, st.plan.peer_name);
  self->request(st.plan.peer, st.plan.call_timeout, list_atom::value)
    .then(
      [self](std::vector<collection_spec>& peer_specs) {
        auto& st = self->state;
        st.collections = std::move(peer_specs);
        self->request(st.plan.target, st.plan.call_timeout, list_atom::value)
          .then(
            [self](std::vector<collection_spec>& mine) {
              auto& st = self->state;
              // Drop what the peer lacks or holds with another spec, then
              // create the peer's (creating an identical one is a no-op).
              std::deque<std::pair<bool, collection_spec>> steps;
              for (auto& spec : mine)
                if (std::find(st.collections.begin(), st.collections.end(), spec)
                    == st.collections.end())
                  steps.emplace_back(true, spec);
              for (auto& spec : st.collections)
                steps.emplace_back(false, spec);
              st.steps = std::move(steps);
              count_peer(self, 0);
            },
            fail_with(self));
      },
      fail_with(self));
}

caf::behavior recovery(recovery_pointer self, recovery_plan plan, coordinator_actor coordinator) {
  self->state.plan = std::move(plan);
  self->state.coordinator = std::move(coordinator);
  if (self->state.plan.peer) rebuild(self);
  else store_marker(self);
  // Everything happens in response handlers; this one is never used.
  return {[](ok_atom) {}};
}

} // namespace

void spawn_recovery(caf::actor_system& sys, recovery_plan plan, coordinator_actor coordinator) {
  sys.spawn(recovery, std::move(plan), std::move(coordinator));
}

} // namespace lifeline
