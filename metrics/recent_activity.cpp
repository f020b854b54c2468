#include "metrics/recent_activity.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace lifeline {

namespace {

constexpr double first_bound_ns = 10'000; // 10 us

/// Half-octave buckets above 10 us, found with integer arithmetic only (on
/// every backend call): bucket 2k holds up to 10 us * 2^k, bucket 2k+1 up
/// to 10 us * 2^k * sqrt(2).
size_t bucket_of(std::chrono::nanoseconds d) {
  auto units = static_cast<uint64_t>(std::max<int64_t>(d.count(), 0)) * 1000 / 10'000; // 1/1000 of 10 us
  if (units <= 1000) return 0;
  auto q = (units - 1) / 1000 + 1;               // ceil(d / 10 us) >= 2
  size_t k = std::bit_width(q - 1);              // 10 us * 2^k >= d
  // Within (2^(k-1), 2^k]: the lower half-step if d <= 2^(k-1) * sqrt(2).
  bool lower = units * 1000 <= (uint64_t{1} << (k - 1)) * 1'414'214;
  return std::min<size_t>(2 * k - (lower ? 1 : 0), 39);
}

double bound_ms(size_t i) {
  return first_bound_ns * std::pow(2.0, double(i) / 2) / 1e6;
}

} // namespace

recent_activity::recent_activity(clock_fn clock) : clock_(std::move(clock)) {}

int64_t recent_activity::now_ms() const {
  if (clock_) return clock_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

recent_activity::second_slot& recent_activity::slot_of(backend_ring& b, int64_t second) {
  auto& s = b.slots[static_cast<size_t>(second) % b.slots.size()];
  if (s.second != second) s = second_slot{second};
  return s;
}

recent_activity::counts_slot& recent_activity::counts_of(int64_t second) {
  auto& s = counts_[static_cast<size_t>(second) % counts_.size()];
  if (s.second != second) s = counts_slot{second};
  return s;
}

void recent_activity::call(std::string_view backend, call_outcome outcome,
                           std::chrono::nanoseconds latency) {
  auto second = now_ms() / 1000;
  std::lock_guard lock{mutex_};
  auto it = std::find_if(backends_.begin(), backends_.end(),
                         [&](const backend_ring& b) { return b.name == backend; });
  if (it == backends_.end()) {
    if (backends_.size() >= 64) return; // the coordinator's own bound
    backends_.push_back(backend_ring{std::string{backend}, {}});
    it = backends_.end() - 1;
  }
  auto& s = slot_of(*it, second);
  ++s.calls;
  if (outcome == call_outcome::failure || outcome == call_outcome::timeout) ++s.errors;
  ++s.latency[bucket_of(latency)];
}

void recent_activity::add_event(int64_t second, std::string_view kind, operation op,
                                std::string_view from, std::string_view to,
                                std::string_view reason) {
  // Merged with an event of the same second and kind: a failover moves
  // thousands of reads a second, and the page shows one line for them.
  for (auto it = events_.rbegin(); it != events_.rend() && it->t_ms == second * 1000; ++it)
    if (it->kind == kind && it->operation == to_string(op) && it->from == from && it->to == to &&
        it->reason == reason) {
      ++it->count;
      return;
    }
  events_.push_back({second * 1000, std::string{kind}, std::string{to_string(op)},
                     std::string{from}, std::string{to}, std::string{reason}, 1});
  if (events_.size() > max_events) events_.pop_front();
}

void recent_activity::fallback(operation op, std::string_view from, std::string_view to,
                               fallback_reason r) {
  auto second = now_ms() / 1000;
  std::lock_guard lock{mutex_};
  ++counts_of(second).fallbacks;
  add_event(second, "fallback", op, from, to, to_string(r));
}

void recent_activity::hedge(operation op, std::string_view to) {
  auto second = now_ms() / 1000;
  std::lock_guard lock{mutex_};
  ++counts_of(second).hedges;
  add_event(second, "hedge", op, "", to, "");
}

void recent_activity::outage(operation op) {
  auto second = now_ms() / 1000;
  std::lock_guard lock{mutex_};
  ++counts_of(second).outages;
  add_event(second, "outage", op, "", "", "");
}

activity_snapshot recent_activity::snapshot() const {
  activity_snapshot snap;
  snap.now_ms = now_ms();
  snap.window_s = window_s;
  auto last = snap.now_ms / 1000 - 1; // the last complete second
  auto first = last - static_cast<int64_t>(window_s) + 1;
  std::lock_guard lock{mutex_};
  for (auto& b : backends_) {
    activity_snapshot::backend_series series{b.name, {}, {}, {}};
    for (auto sec = first; sec <= last; ++sec) {
      auto& s = b.slots[static_cast<size_t>(sec) % b.slots.size()];
      if (s.second != sec || s.calls == 0) {
        series.rps.push_back(0);
        series.p99_ms.push_back(0);
        series.errors.push_back(0);
        continue;
      }
      // The upper bound of the bucket holding the 99th percentile call.
      auto rank = static_cast<uint64_t>(std::ceil(0.99 * double(s.calls)));
      uint64_t seen = 0;
      size_t i = 0;
      for (; i < buckets; ++i) {
        seen += s.latency[i];
        if (seen >= rank) break;
      }
      series.rps.push_back(double(s.calls));
      series.p99_ms.push_back(bound_ms(std::min(i, buckets - 1)));
      series.errors.push_back(double(s.errors));
    }
    snap.backends.push_back(std::move(series));
  }
  for (auto sec = first; sec <= last; ++sec) {
    auto& c = counts_[static_cast<size_t>(sec) % counts_.size()];
    bool here = c.second == sec;
    snap.fallbacks.push_back(here ? double(c.fallbacks) : 0);
    snap.hedges.push_back(here ? double(c.hedges) : 0);
    snap.outages.push_back(here ? double(c.outages) : 0);
  }
  snap.events.assign(events_.begin(), events_.end());
  return snap;
}

} // namespace lifeline
