// What the operator surfaces (issue 17) cost on the path of every request:
// the metrics sink records each backend call, and now also feeds the status
// page's last two minutes (recent_activity) and counts every read served
// past its first choice. Baseline, measured in the same run: the counter
// and histogram alone, as the sink recorded a call before.
//
//   build/bin/lifeline-bench-metrics [--calls N] [--threads T] [--repeat R]
//
// Rows (ns per call, the median of R runs; T threads at once):
//   baseline     prometheus-cpp counter + histogram (the sink before)
//   sink         prometheus_metrics::backend_call (the same, its series found
//                in a map, + recent_activity)
//   recent       recent_activity::call alone (what the status page adds)
//   fallback     prometheus_metrics::fallback (counter + recent event)
//   status       one /v1/status snapshot of two busy backends (us)
#include "metrics/prometheus_metrics.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace lifeline;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

/// Runs body(thread, i) for i < calls on each of `threads` threads; ns per call.
double per_call(size_t threads, size_t calls, const std::function<void(size_t, size_t)>& body) {
  auto start = clock_type::now();
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (size_t i = 0; i < calls; ++i) body(t, i);
    });
  for (auto& th : pool) th.join();
  auto ns = std::chrono::duration<double, std::nano>(clock_type::now() - start).count();
  return ns / double(calls * threads);
}

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
  size_t calls = 2'000'000, threads = 1, repeat = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--calls")) calls = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::strtoull(argv[i + 1], nullptr, 10);
  }
  const char* names[] = {"postgres", "vectors"};
  const prometheus::Histogram::BucketBoundaries buckets{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  std::vector<double> base, sink, recent, fallback, status;
  for (size_t r = 0; r < repeat; ++r) {
    // Baseline: the series found once, as the sink keeps them.
    prometheus::Registry registry;
    auto& counters = prometheus::BuildCounter().Name("c_total").Help("c").Register(registry);
    auto& histograms = prometheus::BuildHistogram().Name("h").Help("h").Register(registry);
    prometheus::Counter* c[2] = {&counters.Add({{"b", names[0]}}), &counters.Add({{"b", names[1]}})};
    prometheus::Histogram* h[2] = {&histograms.Add({{"b", names[0]}}, buckets),
                                   &histograms.Add({{"b", names[1]}}, buckets)};
    base.push_back(per_call(threads, calls, [&](size_t, size_t i) {
      c[i & 1]->Increment();
      h[i & 1]->Observe(double(50 + i % 500) * 1e-6);
    }));
    prometheus_metrics m;
    m.known_backends({names[0], names[1]});
    sink.push_back(per_call(threads, calls, [&](size_t, size_t i) {
      m.backend_call(operation::get, names[i & 1], call_outcome::success,
                     std::chrono::microseconds(50 + i % 500));
    }));
    recent_activity alone;
    recent.push_back(per_call(threads, calls, [&](size_t, size_t i) {
      alone.call(names[i & 1], call_outcome::success, std::chrono::microseconds(50 + i % 500));
    }));
    fallback.push_back(per_call(threads, calls / 4, [&](size_t, size_t) {
      m.fallback(operation::get, names[0], names[1], fallback_reason::unhealthy);
    }));
    auto start = clock_type::now();
    size_t snaps = 200;
    size_t bytes = 0;
    for (size_t i = 0; i < snaps; ++i) bytes += m.recent().snapshot().backends.size();
    status.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count() /
                     double(snaps));
    if (bytes == 0) std::puts("(no series)");
  }
  auto b = median(base), s = median(sink);
  std::printf("threads %zu, %zu calls per thread, median of %zu\n", threads, calls, repeat);
  std::printf("%-10s %10.1f ns/call\n", "baseline", b);
  std::printf("%-10s %10.1f ns/call  (%.2fx baseline, +%.1f ns)\n", "sink", s, s / b, s - b);
  std::printf("%-10s %10.1f ns/call\n", "recent", median(recent));
  std::printf("%-10s %10.1f ns/call\n", "fallback", median(fallback));
  std::printf("%-10s %10.1f us/snapshot\n", "status", median(status));
}
