#include "actors/backend_slot.hpp"

#include <caf/all.hpp>

namespace lifeline::detail {

routing_slot::routing_slot(circuit_breaker_config circuit, uint32_t max_calls)
  : breaker_(circuit), max_calls_(max_calls) {}

void routing_slot::refresh(time_point now) { circuit_changed(now); }

void routing_slot::came_up(backend_actor handle, capabilities caps, capabilities preferred) {
  lifecycle_ = lifecycle_state::up;
  handle_ = std::move(handle);
  caps_ = caps;
  preferred_ = preferred;
  breaker_.reset();
  circuit_ = circuit_state::closed;
  flags_.set(health_flag::circuit_open, false);
  flags_.set(health_flag::no_trial_slot, false);
  lifecycle_changed();
}

void routing_slot::left_up(lifecycle_state state) {
  lifecycle_ = state;
  handle_ = backend_actor{};
  lifecycle_changed();
}

void routing_slot::hold(bool on) {
  held_ = on;
  flags_.set(health_flag::held, on);
}

permit routing_slot::admit(time_point now) {
  auto p = breaker_.acquire(now);
  circuit_changed(now);
  return p;
}

void routing_slot::record(permit p, call_result result, duration latency, time_point now) {
  breaker_.record(p, result, latency, now);
  circuit_changed(now);
}

void routing_slot::record_probe(call_result result, time_point now) {
  breaker_.record_probe(result, now);
  circuit_changed(now);
}

void routing_slot::call_sent() {
  ++calls_;
  flags_.set(health_flag::saturated, max_calls_ > 0 && calls_ >= max_calls_);
}

void routing_slot::call_answered() {
  if (calls_ > 0) --calls_;
  flags_.set(health_flag::saturated, max_calls_ > 0 && calls_ >= max_calls_);
}

bool routing_slot::start_probe() {
  if (probing_ || lifecycle_ != lifecycle_state::up || !handle_) return false;
  probing_ = true;
  return true;
}

void routing_slot::circuit_changed(time_point now) {
  circuit_ = breaker_.state(now);
  flags_.set(health_flag::circuit_open, circuit_ == circuit_state::open);
  flags_.set(health_flag::no_trial_slot,
             circuit_ == circuit_state::half_open && !breaker_.would_admit(now));
}

void routing_slot::lifecycle_changed() {
  flags_.set(health_flag::not_up, lifecycle_ != lifecycle_state::up || !handle_);
}

} // namespace lifeline::detail
