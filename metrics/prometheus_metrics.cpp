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
                  .Help("Requests moved from a failed backend to the next one.")
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

void prometheus_metrics::backend_call(operation op, std::string_view backend,
                                      call_outcome outcome, duration latency) {
  prometheus::Counter* counter;
  prometheus::Histogram* histogram;
  {
    std::lock_guard guard{mutex_};
    auto key = std::make_tuple(op, str(backend), outcome);
    auto it = call_series_.find(key);
    if (it == call_series_.end())
      it = call_series_
             .emplace(key, &calls_->Add({{"operation", str(to_string(op))},
                                         {"backend", str(backend)},
                                         {"outcome", str(to_string(outcome))}}))
             .first;
    counter = it->second;
    auto lkey = std::make_pair(op, str(backend));
    auto lt = latency_series_.find(lkey);
    if (lt == latency_series_.end())
      lt = latency_series_
             .emplace(lkey, &latency_->Add({{"operation", str(to_string(op))},
                                            {"backend", str(backend)}},
                                           latency_buckets()))
             .first;
    histogram = lt->second;
  }
  counter->Increment();
  histogram->Observe(std::chrono::duration<double>(latency).count());
}

void prometheus_metrics::fallback(operation op, std::string_view from, std::string_view to) {
  fallbacks_->Add({{"operation", str(to_string(op))}, {"from", str(from)}, {"to", str(to)}})
    .Increment();
}

void prometheus_metrics::outage(operation op) {
  outages_->Add({{"operation", str(to_string(op))}}).Increment();
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
