// What the coordinator and supervisors count. A small sink interface, so the
// Prometheus exporter (and anything else) only swaps the implementation.
// No CAF in here.
#pragma once

#include "core/states.hpp"
#include "core/types.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline {

/// Why a read was served by a backend other than its first choice (the one
/// it goes to when every backend is healthy).
enum class fallback_reason : uint8_t {
  failed,      ///< The first choice was tried and failed, timed out or held a damaged copy.
  unhealthy,   ///< Not tried: down, stopped by an operator, or its circuit open.
  catching_up, ///< Not tried: it lacks acknowledged writes (catching up or rebuilding).
  busy,        ///< Not tried: at its bound of calls in flight.
  slow,        ///< Tried later: demoted for being far slower than its peers.
};
inline constexpr int fallback_reason_count = 5;

constexpr std::string_view to_string(fallback_reason r) {
  switch (r) {
    case fallback_reason::failed: return "failed";
    case fallback_reason::unhealthy: return "unhealthy";
    case fallback_reason::catching_up: return "catching_up";
    case fallback_reason::busy: return "busy";
    case fallback_reason::slow: return "slow";
  }
  return "unknown";
}

class metrics_sink {
public:
  using duration = std::chrono::steady_clock::duration;
  virtual ~metrics_sink() = default;

  /// One attempt of `op` on `backend` ended with `outcome` after `latency`.
  virtual void backend_call(operation op, std::string_view backend, call_outcome outcome,
                            duration latency) = 0;
  /// A read of `op` was served by `to` instead of `from`, its first choice,
  /// for `reason` (counted once per request, when it is answered).
  virtual void fallback(operation op, std::string_view from, std::string_view to,
                        fallback_reason reason) = 0;
  /// The backends known at start (called again when one joins): a sink
  /// that exports series creates every label set it knows at zero, so a
  /// dashboard shows 0 rather than no data before the first event.
  virtual void known_backends(const std::vector<std::string>& /*backends*/) {}
  /// No capable backend was left for `op`: the caller got an outage error.
  virtual void outage(operation op) = 0;
  virtual void lifecycle(std::string_view backend, lifecycle_state state) = 0;
  virtual void circuit(std::string_view backend, circuit_state state) = 0;
  /// The supervisor restarted `backend` after a crash.
  virtual void restart(std::string_view backend) = 0;
  /// Requests admitted by the coordinator and not yet answered (+1 / -1).
  virtual void in_flight(operation op, int delta) = 0;
  /// The backend's replica state changed.
  virtual void replica(std::string_view /*backend*/, replica_state /*state*/) {}
  /// `n` handoff entries of `backend` were appended, replayed or lost.
  virtual void handoff(std::string_view /*backend*/, handoff_event /*event*/, uint64_t /*n*/) {}
  /// Entries in the backend's handoff log now.
  virtual void handoff_pending(std::string_view /*backend*/, uint64_t /*pending*/) {}
  /// The backend's handoff log was discarded, and the backend marked for a
  /// rebuild: `reason` is "limit" (over handoff_limit_mb) or "damaged".
  virtual void handoff_reset(std::string_view /*backend*/, std::string_view /*reason*/) {}
  /// Free bytes on the disk of the backend's handoff log, and whether they
  /// are below the warning watermark (disk_free_warn_mb).
  virtual void handoff_disk(std::string_view /*backend*/, uint64_t /*free_bytes*/, bool /*low*/) {}
  /// The catch-up or rebuild of `backend` so far: `done` of `total` (0:
  /// unknown), `rate` per second, `eta_s` seconds left (-1: unknown); all 0
  /// (eta -1) once it is in sync.
  virtual void recovery_progress(std::string_view /*backend*/, uint64_t /*done*/,
                                 uint64_t /*total*/, double /*rate*/, double /*eta_s*/) {}
  /// A rebuild copied `n` more documents to `backend`.
  virtual void rebuild_copied(std::string_view /*backend*/, uint64_t /*n*/) {}
  /// A rebuild of `backend` skipped `n` documents of its peer: the backend
  /// refused them as invalid, or they failed a check (a non-finite vector).
  virtual void rebuild_skipped(std::string_view /*backend*/, uint64_t /*n*/) {}
  /// A request not sent to `backend` because it was at its bound of calls
  /// in flight (the request went elsewhere, or was shed).
  virtual void shed(operation /*op*/, std::string_view /*backend*/) {}
  /// A read of `op` was hedged: also sent to `backend` after the first one
  /// it went to missed its p95.
  virtual void hedge_sent(operation /*op*/, std::string_view /*backend*/) {}
  /// The hedge sent to `backend` answered first.
  virtual void hedge_won(operation /*op*/, std::string_view /*backend*/) {}
  /// `backend` was demoted (true: tried last) for reads of `op` because its
  /// latency is far above its peers', or promoted back (false).
  virtual void demoted(operation /*op*/, std::string_view /*backend*/, bool /*on*/) {}
  /// Anti-entropy repair (actors/checker.cpp): `n` ids (or a collection)
  /// found where `backend` lacks the newest version.
  virtual void repair_difference(std::string_view /*backend*/, uint64_t /*n*/) {}
  /// Repair gave `backend` the newest version of `n` ids (or a collection).
  virtual void repair_copied(std::string_view /*backend*/, uint64_t /*n*/) {}
  /// `n` id ranges compared by digest.
  virtual void repair_ranges(uint64_t /*n*/) {}
  /// A check or repair round started (background: by the repair timer).
  virtual void repair_round(bool /*repair*/, bool /*background*/) {}
  /// A standby of `backend`'s database, as of the last probe: bytes behind
  /// the last acknowledged write (-1: unknown), whether it would serve, and
  /// the reads it served and refused (too far behind) since the last call.
  virtual void standby(std::string_view /*backend*/, std::string_view /*standby*/,
                       int64_t /*lag_bytes*/, bool /*serving*/, uint64_t /*reads*/,
                       uint64_t /*refused*/) {}
};

/// Discards everything.
class null_metrics final : public metrics_sink {
public:
  void backend_call(operation, std::string_view, call_outcome, duration) override {}
  void fallback(operation, std::string_view, std::string_view, fallback_reason) override {}
  void outage(operation) override {}
  void lifecycle(std::string_view, lifecycle_state) override {}
  void circuit(std::string_view, circuit_state) override {}
  void restart(std::string_view) override {}
  void in_flight(operation, int) override {}
};

} // namespace lifeline
