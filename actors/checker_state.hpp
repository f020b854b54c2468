// The checker's state, shared by actors/checker.cpp (the walk over
// collections and ranges) and actors/repairer.cpp (the copies). Included by
// those two only: it pulls in caf/all.hpp.
#pragma once

#include "actors/checker.hpp"
#include "metrics/metrics.hpp"
#include "replication/range_merge.hpp"

#include <caf/all.hpp>

#include <deque>
#include <functional>
#include <map>
#include <optional>

namespace lifeline::detail {

struct checker_state {
  check_plan plan;
  coordinator_actor coordinator;
  consistency_report report;
  check_progress progress;
  std::vector<std::map<std::string, collection_spec>> specs; ///< Per backend.
  std::vector<std::string> collections;                      ///< Union, sorted.
  size_t current = 0;
  // -- the current collection -----------------------------------------------
  collection_check col;
  std::vector<bool> holds; ///< Per backend: it has the collection.
  std::string after;       ///< The range cursor (exclusive).
  std::deque<id_difference> to_repair;
  std::function<void()> after_repair;
  static inline const char* name = "lifeline.checker";

  size_t size() const { return plan.backends.size(); }
  const std::string& collection() const { return collections[current]; }
};

using checker_pointer = caf::stateful_actor<checker_state>*;

/// Replies of one request sent to several backends, by backend index.
template <class T>
struct replies {
  std::vector<std::optional<T>> value;
  std::vector<std::string> error; ///< Empty where it answered (or was not asked).
  /// The first error text, "" if none.
  std::string first_error(const std::vector<std::string>& names) const {
    for (size_t b = 0; b < error.size(); ++b)
      if (!error[b].empty()) return "backend " + names[b] + ": " + error[b];
    return {};
  }
};

/// Sends the same request to the backends in `who` and calls `then` once
/// every one answered (or failed, or timed out: each call is bounded).
template <class T, class... Ts>
void gather(checker_pointer self, const std::vector<size_t>& who,
            std::function<void(replies<T>&)> then, Ts... xs) {
  struct pending {
    replies<T> r;
    size_t left = 0;
    std::function<void(replies<T>&)> then;
  };
  auto p = std::make_shared<pending>();
  p->r.value.resize(self->state.size());
  p->r.error.resize(self->state.size());
  p->left = who.size();
  p->then = std::move(then);
  if (who.empty()) return p->then(p->r);
  for (auto b : who)
    self->request(self->state.plan.backends[b], self->state.plan.call_timeout, xs...)
      .then(
        [p, b](T& x) {
          p->r.value[b] = std::move(x);
          if (--p->left == 0) p->then(p->r);
        },
        [p, b](caf::error& err) {
          p->r.error[b] = describe(err);
          if (p->left > 0 && --p->left == 0) p->then(p->r);
        });
}

/// Ends the job with an error.
void fail(checker_pointer self, std::string why);
/// Tells the coordinator how far the job is.
void report_progress(checker_pointer self);

// -- actors/repairer.cpp -------------------------------------------------------

/// Copies the newest entry of every id in st.to_repair to the backends that
/// lack it, one id at a time, then calls st.after_repair.
void repair_next(checker_pointer self);
/// Creates the collection on the backends lacking it (from the spec of the
/// first that has it), then calls `then`.
void create_missing(checker_pointer self, std::function<void()> then);

} // namespace lifeline::detail
