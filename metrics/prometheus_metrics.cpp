#include "metrics/prometheus_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>

namespace lifeline {

namespace {

std::string str(std::string_view s) { return std::string{s}; }

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  // 100 us to 10 s: an in-memory call to a PostgreSQL search.
  static const prometheus::Histogram::BucketBoundaries b{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

} // namespace

prometheus_metrics::prometheus_metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  calls_ = &prometheus::BuildCounter()
              .Name("lifeline_backend_requests_total")
              .Help("Calls from the coordinator to a backend, by operation, backend and outcome "
                    "(success, client_error, failure, timeout, damaged_document).")
              .Register(r);
  repair_differences_ = &prometheus::BuildCounter()
                           .Name("lifeline_repair_differences_total")
                           .Help("Ids (and collections) a check or repair found a backend lacking "
                                 "the newest version of.")
                           .Register(r);
  repair_copied_ = &prometheus::BuildCounter()
                      .Name("lifeline_repair_repaired_total")
                      .Help("Ids (and collections) repair gave a backend the newest version of "
                            "(documents, tombstones, collections).")
                      .Register(r);
  repair_ranges_ = &prometheus::BuildCounter()
                      .Name("lifeline_repair_ranges_total")
                      .Help("Id ranges checks and repairs compared by version digest.")
                      .Register(r)
                      .Add({});
  repair_rounds_ = &prometheus::BuildCounter()
                      .Name("lifeline_repair_rounds_total")
                      .Help("Check jobs started, by kind (check, repair) and trigger "
                            "(request, background).")
                      .Register(r);
  latency_ = &prometheus::BuildHistogram()
                .Name("lifeline_backend_request_duration_seconds")
                .Help("Latency of calls from the coordinator to a backend.")
                .Register(r);
  fallbacks_ = &prometheus::BuildCounter()
                  .Name("lifeline_fallbacks_total")
                  .Help("Reads served by a backend (to) other than their first choice (from), "
                        "by why they moved: failed (tried and failed, timed out or damaged), "
                        "unhealthy (down, stopped or its circuit open), catching_up, busy (at "
                        "its bound of calls) or slow (demoted).")
                  .Register(r);
  outages_ = &prometheus::BuildCounter()
                .Name("lifeline_outages_total")
                .Help("Requests answered with all_backends_unavailable (HTTP 503).")
                .Register(r);
  up_ = &prometheus::BuildGauge()
           .Name("lifeline_backend_up")
           .Help("1 while the backend's supervisor reports it up, else 0.")
           .Register(r);
  circuit_ = &prometheus::BuildGauge()
                .Name("lifeline_backend_circuit_state")
                .Help("1 for the backend's current circuit state (closed, open, half_open), "
                      "0 for the others.")
                .Register(r);
  restarts_ = &prometheus::BuildCounter()
                 .Name("lifeline_backend_restarts_total")
                 .Help("Restarts of a backend by its supervisor after a crash.")
                 .Register(r);
  in_flight_ = &prometheus::BuildGauge()
                  .Name("lifeline_requests_in_flight")
                  .Help("Requests admitted by the coordinator and not yet answered.")
                  .Register(r);
  replica_ = &prometheus::BuildGauge()
                .Name("lifeline_backend_replica_state")
                .Help("1 for the backend's current replica state (in_sync, catching_up, "
                      "rebuilding), 0 for the others. Only in_sync backends serve reads.")
                .Register(r);
  handoff_ = &prometheus::BuildCounter()
                .Name("lifeline_handoff_entries_total")
                .Help("Missed writes stored for a backend (appended), applied to it later "
                      "(replayed), that could not be stored (failed: not acknowledged), or "
                      "discarded with a log over handoff_limit_mb (dropped: rebuilt instead).")
                .Register(r);
  handoff_pending_ = &prometheus::BuildGauge()
                        .Name("lifeline_handoff_pending")
                        .Help("Entries in a backend's handoff log not yet replayed to it.")
                        .Register(r);
  handoff_resets_ = &prometheus::BuildCounter()
                       .Name("lifeline_handoff_log_resets_total")
                       .Help("Handoff logs discarded, their backend marked for a rebuild from a "
                             "peer: reason=limit (over handoff_limit_mb) or damaged (set aside "
                             "as *.damaged).")
                       .Register(r);
  handoff_disk_free_ = &prometheus::BuildGauge()
                          .Name("lifeline_handoff_disk_free_bytes")
                          .Help("Free bytes on the disk of a backend's handoff log (as of its "
                                "last append or open).")
                          .Register(r);
  handoff_disk_low_ = &prometheus::BuildGauge()
                         .Name("lifeline_handoff_disk_low")
                         .Help("1 while the free bytes on the disk of a backend's handoff log are "
                               "below disk_free_warn_mb.")
                         .Register(r);
  rebuilt_ = &prometheus::BuildCounter()
                .Name("lifeline_rebuild_documents_total")
                .Help("Documents copied to a backend from a healthy peer by rebuilds.")
                .Register(r);
  recovery_done_ = &prometheus::BuildGauge()
                      .Name("lifeline_recovery_done")
                      .Help("The running catch-up (missed writes replayed) or rebuild (documents "
                            "copied) of a backend: done so far; 0 when in sync.")
                      .Register(r);
  recovery_total_ = &prometheus::BuildGauge()
                       .Name("lifeline_recovery_total")
                       .Help("What the running catch-up or rebuild has to do in all (0: unknown, "
                             "or in sync).")
                       .Register(r);
  recovery_rate_ = &prometheus::BuildGauge()
                      .Name("lifeline_recovery_rate")
                      .Help("Entries or documents per second since the catch-up or rebuild "
                            "began.")
                      .Register(r);
  recovery_eta_ = &prometheus::BuildGauge()
                     .Name("lifeline_recovery_eta_seconds")
                     .Help("Estimated seconds left of the catch-up or rebuild (-1: unknown or "
                           "none running).")
                     .Register(r);
  rebuild_skipped_ = &prometheus::BuildCounter()
                        .Name("lifeline_rebuild_skipped_total")
                        .Help("Documents of the peer a rebuild did not copy to a backend: "
                              "refused as invalid, or damaged (a non-finite vector).")
                        .Register(r);
  shed_ = &prometheus::BuildCounter()
             .Name("lifeline_backend_shed_total")
             .Help("Requests not sent to a backend because it was at its bound of calls in flight "
                   "(backend_max_in_flight): sent elsewhere, or shed with a 503.")
             .Register(r);
  hedges_ = &prometheus::BuildCounter()
               .Name("lifeline_hedges_total")
               .Help("Reads also sent to this backend (a hedge) because the backend they went to "
                     "first had not answered within its recent p95.")
               .Register(r);
  hedges_won_ = &prometheus::BuildCounter()
                   .Name("lifeline_hedges_won_total")
                   .Help("Hedges sent to this backend that answered first.")
                   .Register(r);
  demoted_ = &prometheus::BuildGauge()
                .Name("lifeline_backend_demoted")
                .Help("1 while the backend is demoted (tried last) for the operation's reads: its "
                      "recent p95 is far above its peers'.")
                .Register(r);
  standby_lag_ = &prometheus::BuildGauge()
                    .Name("lifeline_standby_lag_bytes")
                    .Help("How far a standby of a backend's database is behind the last write "
                          "acknowledged through it (bytes of WAL; -1: unknown).")
                    .Register(r);
  standby_serving_ = &prometheus::BuildGauge()
                        .Name("lifeline_standby_serving")
                        .Help("1 while a standby holds every acknowledged write and would serve "
                              "reads.")
                        .Register(r);
  standby_reads_ = &prometheus::BuildCounter()
                      .Name("lifeline_standby_reads_total")
                      .Help("Reads a standby served (the primary unreachable, or "
                            "replica_reads = \"prefer\").")
                      .Register(r);
  standby_refused_ = &prometheus::BuildCounter()
                        .Name("lifeline_standby_reads_refused_total")
                        .Help("Reads a standby refused because it had not replayed the last "
                              "acknowledged write.")
                        .Register(r);
}

prometheus_metrics::~prometheus_metrics() = default;

std::pair<prometheus::Counter*, prometheus::Histogram*>
prometheus_metrics::call_series(operation op, std::string_view backend, call_outcome outcome) {
  // Found without allocating: this runs on every backend call.
  std::lock_guard guard{mutex_};
  auto it = call_series_.find(std::make_tuple(op, backend, outcome));
  if (it == call_series_.end())
    it = call_series_
           .emplace(std::make_tuple(op, str(backend), outcome),
                    &calls_->Add({{"operation", str(to_string(op))},
                                       {"backend", str(backend)},
                                       {"outcome", str(to_string(outcome))}}))
           .first;
  auto lt = latency_series_.find(std::make_tuple(op, backend));
  if (lt == latency_series_.end())
    lt = latency_series_
           .emplace(std::make_tuple(op, str(backend)), &latency_->Add({{"operation", str(to_string(op))},
                                          {"backend", str(backend)}},
                                         latency_buckets()))
           .first;
  return {it->second, lt->second};
}

void prometheus_metrics::backend_call(operation op, std::string_view backend,
                                      call_outcome outcome, duration latency) {
  auto [counter, histogram] = call_series(op, backend, outcome);
  counter->Increment();
  histogram->Observe(std::chrono::duration<double>(latency).count());
  recent_.call(backend, outcome, latency);
}

void prometheus_metrics::fallback(operation op, std::string_view from, std::string_view to,
                                  fallback_reason reason) {
  prometheus::Counter* counter;
  {
    // In an outage every read counts one: found without building labels.
    std::lock_guard guard{mutex_};
    auto key = std::make_tuple(op, from, to, reason);
    auto it = fallback_series_.find(key);
    if (it == fallback_series_.end())
      it = fallback_series_
             .emplace(std::make_tuple(op, str(from), str(to), reason),
                      &fallbacks_->Add({{"operation", str(to_string(op))}, {"from", str(from)},
                                        {"to", str(to)}, {"reason", str(to_string(reason))}}))
             .first;
    counter = it->second;
  }
  counter->Increment();
  recent_.fallback(op, from, to, reason);
}

void prometheus_metrics::known_backends(const std::vector<std::string>& backends) {
  // Family::Add creates a series at zero, or returns the existing one.
  constexpr operation reads[] = {operation::get, operation::search, operation::list_collections,
                                 operation::collection_stats};
  for (int o = 0; o < operation_count; ++o)
    outages_->Add({{"operation", str(to_string(static_cast<operation>(o)))}});
  for (auto& b : backends) {
    // Every circuit starts closed (the "Open circuits" panel shows 0, not
    // no data); a backend's later reports set it.
    if (!circuit_->Has({{"backend", b}, {"state", "closed"}})) circuit(b, circuit_state::closed);
    restarts_->Add({{"backend", b}});
    rebuilt_->Add({{"backend", b}});
    rebuild_skipped_->Add({{"backend", b}});
    repair_differences_->Add({{"backend", b}});
    repair_copied_->Add({{"backend", b}});
    handoff_pending_->Add({{"backend", b}});
    recovery_done_->Add({{"backend", b}});
    recovery_total_->Add({{"backend", b}});
    recovery_rate_->Add({{"backend", b}});
    if (!recovery_eta_->Has({{"backend", b}})) recovery_eta_->Add({{"backend", b}}).Set(-1);
    for (auto e : {handoff_event::appended, handoff_event::replayed, handoff_event::failed,
                   handoff_event::dropped})
      handoff_->Add({{"backend", b}, {"event", str(to_string(e))}});
    for (auto reason : {"limit", "damaged"}) handoff_resets_->Add({{"backend", b}, {"reason", reason}});
    for (int o = 0; o < operation_count; ++o) {
      auto op = static_cast<operation>(o);
      for (auto outcome : {call_outcome::success, call_outcome::client_error, call_outcome::failure,
                           call_outcome::timeout, call_outcome::damaged_document})
        call_series(op, b, outcome);
      shed_->Add({{"operation", str(to_string(op))}, {"backend", b}});
    }
    for (auto op : reads) {
      hedges_->Add({{"operation", str(to_string(op))}, {"backend", b}});
      hedges_won_->Add({{"operation", str(to_string(op))}, {"backend", b}});
      for (auto& to : backends) {
        if (to == b) continue;
        for (int r = 0; r < fallback_reason_count; ++r)
          fallbacks_->Add({{"operation", str(to_string(op))}, {"from", b}, {"to", to},
                           {"reason", str(to_string(static_cast<fallback_reason>(r)))}});
      }
    }
  }
  for (auto kind : {"check", "repair"})
    for (auto trigger : {"request", "background"})
      repair_rounds_->Add({{"kind", kind}, {"trigger", trigger}});
}

void prometheus_metrics::outage(operation op) {
  outages_->Add({{"operation", str(to_string(op))}}).Increment();
  recent_.outage(op);
}

void prometheus_metrics::lifecycle(std::string_view backend, lifecycle_state state) {
  up_->Add({{"backend", str(backend)}}).Set(state == lifecycle_state::up ? 1 : 0);
}

void prometheus_metrics::circuit(std::string_view backend, circuit_state state) {
  for (auto s : {circuit_state::closed, circuit_state::open, circuit_state::half_open})
    circuit_->Add({{"backend", str(backend)}, {"state", str(to_string(s))}})
      .Set(s == state ? 1 : 0);
}

void prometheus_metrics::restart(std::string_view backend) {
  restarts_->Add({{"backend", str(backend)}}).Increment();
}

void prometheus_metrics::in_flight(operation op, int delta) {
  in_flight_->Add({{"operation", str(to_string(op))}}).Increment(delta);
}

void prometheus_metrics::replica(std::string_view backend, replica_state state) {
  for (auto s : {replica_state::in_sync, replica_state::catching_up, replica_state::rebuilding})
    replica_->Add({{"backend", str(backend)}, {"state", str(to_string(s))}})
      .Set(s == state ? 1 : 0);
}

void prometheus_metrics::handoff(std::string_view backend, handoff_event event, uint64_t n) {
  handoff_->Add({{"backend", str(backend)}, {"event", str(to_string(event))}})
    .Increment(double(n));
}

void prometheus_metrics::handoff_pending(std::string_view backend, uint64_t pending) {
  handoff_pending_->Add({{"backend", str(backend)}}).Set(double(pending));
}

void prometheus_metrics::handoff_reset(std::string_view backend, std::string_view reason) {
  handoff_resets_->Add({{"backend", str(backend)}, {"reason", str(reason)}}).Increment();
}

void prometheus_metrics::handoff_disk(std::string_view backend, uint64_t free_bytes, bool low) {
  handoff_disk_free_->Add({{"backend", str(backend)}}).Set(double(free_bytes));
  handoff_disk_low_->Add({{"backend", str(backend)}}).Set(low ? 1 : 0);
}

void prometheus_metrics::rebuild_copied(std::string_view backend, uint64_t n) {
  rebuilt_->Add({{"backend", str(backend)}}).Increment(double(n));
}

void prometheus_metrics::recovery_progress(std::string_view backend, uint64_t done,
                                           uint64_t total, double rate, double eta_s) {
  prometheus::Labels labels{{"backend", str(backend)}};
  recovery_done_->Add(labels).Set(double(done));
  recovery_total_->Add(labels).Set(double(total));
  recovery_rate_->Add(labels).Set(rate);
  recovery_eta_->Add(labels).Set(eta_s);
}

void prometheus_metrics::shed(operation op, std::string_view backend) {
  shed_->Add({{"operation", std::string{to_string(op)}}, {"backend", str(backend)}}).Increment();
}

void prometheus_metrics::rebuild_skipped(std::string_view backend, uint64_t n) {
  rebuild_skipped_->Add({{"backend", str(backend)}}).Increment(double(n));
}

void prometheus_metrics::repair_difference(std::string_view backend, uint64_t n) {
  repair_differences_->Add({{"backend", str(backend)}}).Increment(double(n));
}

void prometheus_metrics::repair_copied(std::string_view backend, uint64_t n) {
  repair_copied_->Add({{"backend", str(backend)}}).Increment(double(n));
}

void prometheus_metrics::repair_ranges(uint64_t n) { repair_ranges_->Increment(double(n)); }

void prometheus_metrics::repair_round(bool repair, bool background) {
  repair_rounds_->Add({{"kind", repair ? "repair" : "check"},
                       {"trigger", background ? "background" : "request"}})
    .Increment();
}

void prometheus_metrics::hedge_sent(operation op, std::string_view backend) {
  hedges_->Add({{"operation", std::string{to_string(op)}}, {"backend", str(backend)}}).Increment();
  recent_.hedge(op, backend);
}

void prometheus_metrics::hedge_won(operation op, std::string_view backend) {
  hedges_won_->Add({{"operation", std::string{to_string(op)}}, {"backend", str(backend)}})
    .Increment();
}

void prometheus_metrics::demoted(operation op, std::string_view backend, bool on) {
  demoted_->Add({{"operation", std::string{to_string(op)}}, {"backend", str(backend)}})
    .Set(on ? 1 : 0);
}

void prometheus_metrics::standby(std::string_view backend, std::string_view standby,
                                 int64_t lag_bytes, bool serving, uint64_t reads,
                                 uint64_t refused) {
  prometheus::Labels labels{{"backend", str(backend)}, {"standby", str(standby)}};
  standby_lag_->Add(labels).Set(double(lag_bytes));
  standby_serving_->Add(labels).Set(serving ? 1 : 0);
  // Added at 0 too: the series exist from the first probe on.
  standby_reads_->Add(labels).Increment(double(reads));
  standby_refused_->Add(labels).Increment(double(refused));
}

std::string prometheus_metrics::render() const {
  return prometheus::TextSerializer{}.Serialize(registry_->Collect());
}

} // namespace lifeline
