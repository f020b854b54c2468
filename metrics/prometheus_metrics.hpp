// The metrics sink for Prometheus: every series the coordinator and the
// supervisors report, in a prometheus-cpp registry that the HTTP server
// renders on /metrics. docs/METRICS.md lists the series.
#pragma once

#include "metrics/metrics.hpp"
#include "metrics/recent_activity.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T> class Family;
} // namespace prometheus

namespace lifeline {

/// Orders tuples element by element, strings as string_views: a map keyed
/// by tuples that hold std::string is searched with tuples of string_view,
/// without allocating (this runs on every backend call).
struct tuple_view_less {
  using is_transparent = void;
  template <class T>
  static auto view(const T& x) {
    if constexpr (std::is_same_v<T, std::string>) return std::string_view{x};
    else return x;
  }
  template <class... A, class... B>
  bool operator()(const std::tuple<A...>& a, const std::tuple<B...>& b) const {
    return std::apply(
      [&](const auto&... xa) {
        return std::apply([&](const auto&... xb) {
          return std::tuple{view(xa)...} < std::tuple{view(xb)...};
        }, b);
      },
      a);
  }
};

class prometheus_metrics final : public metrics_sink {
public:
  prometheus_metrics();
  ~prometheus_metrics() override;

  void backend_call(operation op, std::string_view backend, call_outcome outcome,
                    duration latency) override;
  void fallback(operation op, std::string_view from, std::string_view to,
                fallback_reason reason) override;
  void known_backends(const std::vector<std::string>& backends) override;
  void outage(operation op) override;
  void lifecycle(std::string_view backend, lifecycle_state state) override;
  void circuit(std::string_view backend, circuit_state state) override;
  void restart(std::string_view backend) override;
  void in_flight(operation op, int delta) override;
  void replica(std::string_view backend, replica_state state) override;
  void handoff(std::string_view backend, handoff_event event, uint64_t n) override;
  void handoff_pending(std::string_view backend, uint64_t pending) override;
  void handoff_reset(std::string_view backend, std::string_view reason) override;
  void handoff_disk(std::string_view backend, uint64_t free_bytes, bool low) override;
  void rebuild_copied(std::string_view backend, uint64_t n) override;
  void recovery_progress(std::string_view backend, uint64_t done, uint64_t total, double rate,
                         double eta_s) override;
  void rebuild_skipped(std::string_view backend, uint64_t n) override;
  void shed(operation op, std::string_view backend) override;
  void repair_difference(std::string_view backend, uint64_t n) override;
  void repair_copied(std::string_view backend, uint64_t n) override;
  void repair_ranges(uint64_t n) override;
  void repair_round(bool repair, bool background) override;
  void hedge_sent(operation op, std::string_view backend) override;
  void hedge_won(operation op, std::string_view backend) override;
  void demoted(operation op, std::string_view backend, bool on) override;
  void standby(std::string_view backend, std::string_view standby, int64_t lag_bytes,
               bool serving, uint64_t reads, uint64_t refused) override;

  /// The registry, for other components to add their own series.
  prometheus::Registry& registry() { return *registry_; }
  /// Everything in the Prometheus text exposition format.
  std::string render() const;
  /// The last minutes, per second (the status page, GET /v1/status).
  const recent_activity& recent() const { return recent_; }

private:
  /// The call counter and latency histogram of (op, backend, outcome),
  /// created on first use and kept.
  std::pair<prometheus::Counter*, prometheus::Histogram*>
  call_series(operation op, std::string_view backend, call_outcome outcome);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* calls_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Counter>* fallbacks_;
  prometheus::Family<prometheus::Counter>* outages_;
  prometheus::Family<prometheus::Gauge>* up_;
  prometheus::Family<prometheus::Gauge>* circuit_;
  prometheus::Family<prometheus::Counter>* restarts_;
  prometheus::Family<prometheus::Gauge>* in_flight_;
  prometheus::Family<prometheus::Gauge>* replica_;
  prometheus::Family<prometheus::Counter>* handoff_;
  prometheus::Family<prometheus::Gauge>* handoff_pending_;
  prometheus::Family<prometheus::Counter>* handoff_resets_;
  prometheus::Family<prometheus::Gauge>* handoff_disk_free_;
  prometheus::Family<prometheus::Gauge>* handoff_disk_low_;
  prometheus::Family<prometheus::Counter>* rebuilt_;
  prometheus::Family<prometheus::Gauge>* recovery_done_;
  prometheus::Family<prometheus::Gauge>* recovery_total_;
  prometheus::Family<prometheus::Gauge>* recovery_rate_;
  prometheus::Family<prometheus::Gauge>* recovery_eta_;
  prometheus::Family<prometheus::Counter>* rebuild_skipped_;
  prometheus::Family<prometheus::Counter>* shed_;
  prometheus::Family<prometheus::Counter>* repair_differences_;
  prometheus::Family<prometheus::Counter>* repair_copied_;
  prometheus::Counter* repair_ranges_;
  prometheus::Family<prometheus::Counter>* repair_rounds_;
  prometheus::Family<prometheus::Counter>* hedges_;
  prometheus::Family<prometheus::Counter>* hedges_won_;
  prometheus::Family<prometheus::Gauge>* demoted_;
  prometheus::Family<prometheus::Gauge>* standby_lag_;
  prometheus::Family<prometheus::Gauge>* standby_serving_;
  prometheus::Family<prometheus::Counter>* standby_reads_;
  prometheus::Family<prometheus::Counter>* standby_refused_;
  // Series are looked up once and kept: Family::Add hashes its labels.
  std::mutex mutex_;
  std::map<std::tuple<operation, std::string, call_outcome>, prometheus::Counter*, tuple_view_less>
    call_series_;
  std::map<std::tuple<operation, std::string>, prometheus::Histogram*, tuple_view_less>
    latency_series_;
  std::map<std::tuple<operation, std::string, std::string, fallback_reason>, prometheus::Counter*,
           tuple_view_less>
    fallback_series_;
  recent_activity recent_;
};

} // namespace lifeline
