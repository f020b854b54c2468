#include "metrics/counting_metrics.hpp"

namespace lifeline {

void counting_metrics::replica(std::string_view backend, replica_state state) {
  std::lock_guard guard{mutex_};
  ++replica_transitions_[{std::string{backend}, state}];
}

void counting_metrics::handoff(std::string_view backend, handoff_event event, uint64_t n) {
  std::lock_guard guard{mutex_};
  handoff_[{std::string{backend}, event}] += n;
}

void counting_metrics::rebuild_copied(std::string_view backend, uint64_t n) {
  std::lock_guard guard{mutex_};
  rebuilt_[std::string{backend}] += n;
}

void counting_metrics::repair_difference(std::string_view backend, uint64_t n) {
  std::lock_guard guard{mutex_};
  repair_differences_[std::string{backend}] += n;
}

void counting_metrics::repair_copied(std::string_view backend, uint64_t n) {
  std::lock_guard guard{mutex_};
  repair_copies_[std::string{backend}] += n;
}

void counting_metrics::repair_ranges(uint64_t n) {
  std::lock_guard guard{mutex_};
  repair_ranges_ += n;
}

void counting_metrics::repair_round(bool repair, bool background) {
  std::lock_guard guard{mutex_};
  ++repair_rounds_[{repair, background}];
}

uint64_t counting_metrics::repair_differences(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = repair_differences_.find(backend);
  return it == repair_differences_.end() ? 0 : it->second;
}

uint64_t counting_metrics::repair_copies(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = repair_copies_.find(backend);
  return it == repair_copies_.end() ? 0 : it->second;
}

uint64_t counting_metrics::repair_range_count() const {
  std::lock_guard guard{mutex_};
  return repair_ranges_;
}

uint64_t counting_metrics::repair_rounds(bool repair, bool background) const {
  std::lock_guard guard{mutex_};
  auto it = repair_rounds_.find({repair, background});
  return it == repair_rounds_.end() ? 0 : it->second;
}

void counting_metrics::rebuild_skipped(std::string_view backend, uint64_t n) {
  std::lock_guard guard{mutex_};
  rebuild_skipped_[std::string{backend}] += n;
}

void counting_metrics::shed(operation op, std::string_view backend) {
  std::lock_guard guard{mutex_};
  ++shed_[{op, std::string{backend}}];
}

void counting_metrics::hedge_sent(operation op, std::string_view backend) {
  std::lock_guard guard{mutex_};
  ++hedges_[{op, std::string{backend}}];
}

void counting_metrics::hedge_won(operation op, std::string_view backend) {
  std::lock_guard guard{mutex_};
  ++hedges_won_[{op, std::string{backend}}];
}

void counting_metrics::demoted(operation op, std::string_view backend, bool on) {
  std::lock_guard guard{mutex_};
  demoted_[{op, std::string{backend}}] = on;
  if (on) ++demotions_[{op, std::string{backend}}];
}

namespace {

template <class Map>
auto count_of(const Map& m, operation op, std::string_view backend) {
  auto it = m.find({op, std::string{backend}});
  return it == m.end() ? typename Map::mapped_type{} : it->second;
}

} // namespace

uint64_t counting_metrics::hedges(operation op, std::string_view backend) const {
  std::lock_guard guard{mutex_};
  return count_of(hedges_, op, backend);
}

uint64_t counting_metrics::hedges_won(operation op, std::string_view backend) const {
  std::lock_guard guard{mutex_};
  return count_of(hedges_won_, op, backend);
}

bool counting_metrics::is_demoted(operation op, std::string_view backend) const {
  std::lock_guard guard{mutex_};
  return count_of(demoted_, op, backend);
}

uint64_t counting_metrics::demotions(operation op, std::string_view backend) const {
  std::lock_guard guard{mutex_};
  return count_of(demotions_, op, backend);
}

uint64_t counting_metrics::shed_count(operation op, std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = shed_.find({op, std::string{backend}});
  return it == shed_.end() ? 0 : it->second;
}

uint64_t counting_metrics::rebuild_skipped(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = rebuild_skipped_.find(std::string{backend});
  return it == rebuild_skipped_.end() ? 0 : it->second;
}

uint64_t counting_metrics::replica_transitions(std::string_view backend, replica_state state) const {
  std::lock_guard guard{mutex_};
  auto it = replica_transitions_.find({std::string{backend}, state});
  return it == replica_transitions_.end() ? 0 : it->second;
}

void counting_metrics::handoff_reset(std::string_view backend, std::string_view reason) {
  std::lock_guard guard{mutex_};
  ++handoff_resets_[{std::string{backend}, std::string{reason}}];
}

void counting_metrics::handoff_disk(std::string_view backend, uint64_t free_bytes, bool low) {
  std::lock_guard guard{mutex_};
  handoff_disk_[std::string{backend}] = {free_bytes, low};
}

uint64_t counting_metrics::handoff_resets(std::string_view backend,
                                          std::string_view reason) const {
  std::lock_guard guard{mutex_};
  auto it = handoff_resets_.find({std::string{backend}, std::string{reason}});
  return it == handoff_resets_.end() ? 0 : it->second;
}

std::pair<uint64_t, bool> counting_metrics::handoff_disk(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = handoff_disk_.find(backend);
  return it == handoff_disk_.end() ? std::pair<uint64_t, bool>{0, false} : it->second;
}

uint64_t counting_metrics::handoff(std::string_view backend, handoff_event event) const {
  std::lock_guard guard{mutex_};
  auto it = handoff_.find({std::string{backend}, event});
  return it == handoff_.end() ? 0 : it->second;
}

uint64_t counting_metrics::rebuilt(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = rebuilt_.find(std::string{backend});
  return it == rebuilt_.end() ? 0 : it->second;
}

void counting_metrics::backend_call(operation op, std::string_view backend, call_outcome outcome,
                                    duration) {
  std::lock_guard guard{mutex_};
  ++calls_[{op, std::string{backend}, outcome}];
}

void counting_metrics::fallback(operation op, std::string_view from, std::string_view to,
                                fallback_reason reason) {
  std::lock_guard guard{mutex_};
  ++fallbacks_[{op, std::string{from}, std::string{to}, reason}];
}

void counting_metrics::outage(operation op) {
  std::lock_guard guard{mutex_};
  ++outages_[op];
}

void counting_metrics::lifecycle(std::string_view backend, lifecycle_state state) {
  std::lock_guard guard{mutex_};
  lifecycle_.insert_or_assign(std::string{backend}, state);
}

void counting_metrics::circuit(std::string_view backend, circuit_state state) {
  std::lock_guard guard{mutex_};
  circuit_.insert_or_assign(std::string{backend}, state);
  ++circuit_transitions_[{std::string{backend}, state}];
}

void counting_metrics::restart(std::string_view backend) {
  std::lock_guard guard{mutex_};
  ++restarts_[std::string{backend}];
}

void counting_metrics::in_flight(operation op, int delta) {
  std::lock_guard guard{mutex_};
  in_flight_[op] += delta;
}

uint64_t counting_metrics::calls(operation op, std::string_view backend,
                                 call_outcome outcome) const {
  std::lock_guard guard{mutex_};
  auto it = calls_.find({op, std::string{backend}, outcome});
  return it == calls_.end() ? 0 : it->second;
}

uint64_t counting_metrics::calls(std::string_view backend, call_outcome outcome) const {
  std::lock_guard guard{mutex_};
  uint64_t n = 0;
  for (auto& [key, count] : calls_)
    if (std::get<1>(key) == backend && std::get<2>(key) == outcome) n += count;
  return n;
}

uint64_t counting_metrics::fallbacks(operation op, std::string_view from,
                                     std::string_view to) const {
  std::lock_guard guard{mutex_};
  uint64_t n = 0;
  for (auto& [key, count] : fallbacks_)
    if (std::get<0>(key) == op && std::get<1>(key) == from && std::get<2>(key) == to) n += count;
  return n;
}

uint64_t counting_metrics::fallbacks(operation op, std::string_view from, std::string_view to,
                                     fallback_reason reason) const {
  std::lock_guard guard{mutex_};
  auto it = fallbacks_.find({op, std::string{from}, std::string{to}, reason});
  return it == fallbacks_.end() ? 0 : it->second;
}

uint64_t counting_metrics::fallbacks() const {
  std::lock_guard guard{mutex_};
  uint64_t n = 0;
  for (auto& [key, count] : fallbacks_) n += count;
  return n;
}

uint64_t counting_metrics::outages(operation op) const {
  std::lock_guard guard{mutex_};
  auto it = outages_.find(op);
  return it == outages_.end() ? 0 : it->second;
}

uint64_t counting_metrics::outages() const {
  std::lock_guard guard{mutex_};
  uint64_t n = 0;
  for (auto& [key, count] : outages_) n += count;
  return n;
}

uint64_t counting_metrics::restarts(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = restarts_.find(std::string{backend});
  return it == restarts_.end() ? 0 : it->second;
}

int64_t counting_metrics::in_flight(operation op) const {
  std::lock_guard guard{mutex_};
  auto it = in_flight_.find(op);
  return it == in_flight_.end() ? 0 : it->second;
}

lifecycle_state counting_metrics::last_lifecycle(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = lifecycle_.find(backend);
  return it == lifecycle_.end() ? lifecycle_state::starting : it->second;
}

uint64_t counting_metrics::circuit_transitions(std::string_view backend,
                                               circuit_state state) const {
  std::lock_guard guard{mutex_};
  auto it = circuit_transitions_.find({std::string{backend}, state});
  return it == circuit_transitions_.end() ? 0 : it->second;
}

} // namespace lifeline

namespace lifeline {

void counting_metrics::recovery_progress(std::string_view backend, uint64_t done, uint64_t total,
                                         double rate, double eta_s) {
  std::lock_guard guard{mutex_};
  progress_[std::string{backend}].push_back({done, total, rate, eta_s});
}

std::vector<counting_metrics::progress_report>
counting_metrics::progress(std::string_view backend) const {
  std::lock_guard guard{mutex_};
  auto it = progress_.find(backend);
  return it == progress_.end() ? std::vector<progress_report>{} : it->second;
}

} // namespace lifeline
