// An in-memory, thread-safe metrics sink: counters keyed by their labels.
// Used by the tests, the benchmark and the demo; readable at any time.
#pragma once

#include "metrics/metrics.hpp"

#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace lifeline {

class counting_metrics final : public metrics_sink {
public:
  void backend_call(operation op, std::string_view backend, call_outcome outcome,
                    duration latency) override;
  void fallback(operation op, std::string_view from, std::string_view to,
                fallback_reason reason) override;
  void outage(operation op) override;
  void lifecycle(std::string_view backend, lifecycle_state state) override;
  void circuit(std::string_view backend, circuit_state state) override;
  void restart(std::string_view backend) override;
  void in_flight(operation op, int delta) override;
  void replica(std::string_view backend, replica_state state) override;
  void handoff(std::string_view backend, handoff_event event, uint64_t n) override;
  void handoff_reset(std::string_view backend, std::string_view reason) override;
  void handoff_disk(std::string_view backend, uint64_t free_bytes, bool low) override;
  void rebuild_copied(std::string_view backend, uint64_t n) override;
  void recovery_progress(std::string_view backend, uint64_t done, uint64_t total, double rate,
                         double eta_s) override;
  /// Every progress report of `backend`'s catch-ups and rebuilds, in order.
  struct progress_report {
    uint64_t done = 0, total = 0;
    double rate = 0, eta_s = -1;
  };
  std::vector<progress_report> progress(std::string_view backend) const;
  void rebuild_skipped(std::string_view backend, uint64_t n) override;
  void shed(operation op, std::string_view backend) override;
  void repair_difference(std::string_view backend, uint64_t n) override;
  void repair_copied(std::string_view backend, uint64_t n) override;
  void repair_ranges(uint64_t n) override;
  void repair_round(bool repair, bool background) override;
  void hedge_sent(operation op, std::string_view backend) override;
  void hedge_won(operation op, std::string_view backend) override;
  void demoted(operation op, std::string_view backend, bool on) override;
  /// Hedges of `op` sent to `backend`, and those that answered first.
  uint64_t hedges(operation op, std::string_view backend) const;
  uint64_t hedges_won(operation op, std::string_view backend) const;
  /// Whether `backend` is demoted for reads of `op` now, and how many times
  /// it was demoted.
  bool is_demoted(operation op, std::string_view backend) const;
  uint64_t demotions(operation op, std::string_view backend) const;
  /// Repair counters: differences found for / repaired on `backend`.
  uint64_t repair_differences(std::string_view backend) const;
  uint64_t repair_copies(std::string_view backend) const;
  uint64_t repair_range_count() const;
  /// Rounds started (repair or check, background or on request).
  uint64_t repair_rounds(bool repair, bool background) const;

  uint64_t calls(operation op, std::string_view backend, call_outcome outcome) const;
  /// Calls of any operation on `backend` with `outcome`.
  uint64_t calls(std::string_view backend, call_outcome outcome) const;
  /// Reads of `op` served by `to` instead of their first choice `from`
  /// (for any reason, or for `reason`).
  uint64_t fallbacks(operation op, std::string_view from, std::string_view to) const;
  uint64_t fallbacks(operation op, std::string_view from, std::string_view to,
                     fallback_reason reason) const;
  uint64_t fallbacks() const;
  uint64_t outages(operation op) const;
  uint64_t outages() const;
  uint64_t restarts(std::string_view backend) const;
  int64_t in_flight(operation op) const;
  /// Last reported lifecycle state (starting when never reported).
  lifecycle_state last_lifecycle(std::string_view backend) const;
  /// How many times `backend` entered `state`.
  uint64_t circuit_transitions(std::string_view backend, circuit_state state) const;
  /// How many times `backend` entered replica `state`.
  uint64_t replica_transitions(std::string_view backend, replica_state state) const;
  uint64_t handoff(std::string_view backend, handoff_event event) const;
  /// Times `backend`'s handoff log was discarded for `reason`.
  uint64_t handoff_resets(std::string_view backend, std::string_view reason) const;
  /// The last free-disk report for `backend`'s handoff log (0, false: none).
  std::pair<uint64_t, bool> handoff_disk(std::string_view backend) const;
  /// Documents copied to `backend` by rebuilds.
  uint64_t rebuilt(std::string_view backend) const;
  /// Documents rebuilds of `backend` skipped (refused or damaged).
  uint64_t rebuild_skipped(std::string_view backend) const;
  /// Requests of `op` not sent to `backend` because it was at its bound.
  uint64_t shed_count(operation op, std::string_view backend) const;

private:
  mutable std::mutex mutex_;
  std::map<std::string, uint64_t, std::less<>> repair_differences_;
  std::map<std::string, uint64_t, std::less<>> repair_copies_;
  uint64_t repair_ranges_ = 0;
  std::map<std::pair<bool, bool>, uint64_t> repair_rounds_;
  std::map<std::tuple<operation, std::string, call_outcome>, uint64_t> calls_;
  std::map<std::tuple<operation, std::string, std::string, fallback_reason>, uint64_t> fallbacks_;
  std::map<operation, uint64_t> outages_;
  std::map<std::string, uint64_t> restarts_;
  std::map<operation, int64_t> in_flight_;
  std::map<std::string, lifecycle_state, std::less<>> lifecycle_;
  std::map<std::string, circuit_state, std::less<>> circuit_;
  std::map<std::pair<std::string, circuit_state>, uint64_t> circuit_transitions_;
  std::map<std::pair<std::string, replica_state>, uint64_t> replica_transitions_;
  std::map<std::string, std::vector<progress_report>, std::less<>> progress_;
  std::map<std::pair<std::string, handoff_event>, uint64_t> handoff_;
  std::map<std::pair<std::string, std::string>, uint64_t> handoff_resets_;
  std::map<std::string, std::pair<uint64_t, bool>, std::less<>> handoff_disk_;
  std::map<std::string, uint64_t> rebuilt_;
  std::map<std::string, uint64_t> rebuild_skipped_;
  std::map<std::pair<operation, std::string>, uint64_t> shed_;
  std::map<std::pair<operation, std::string>, uint64_t> hedges_, hedges_won_, demotions_;
  std::map<std::pair<operation, std::string>, bool> demoted_;
};

} // namespace lifeline
