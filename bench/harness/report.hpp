// What a run produced: per-second rows (CSV and JSON), a summary of what the
// faults cost, and a gnuplot PNG of throughput and latency with the faults
// marked.
#pragma once

#include "harness/scenario.hpp"
#include "harness/workload.hpp"

#include <string>
#include <vector>

namespace lifeline::bench {

struct second_row {
  int second = 0;
  uint64_t ops = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  uint64_t ok = 0, client_errors = 0, unavailable = 0, timeouts = 0, other_errors = 0;
  uint64_t by_postgres = 0, by_vectors = 0;
  bool postgres_down = false, vectors_down = false;
};

/// A fault as it happened: when it was due and when it was done.
struct applied_event {
  fault_event event;
  double applied_s = 0;
  std::string error;
};

struct fault_cost {
  std::string event;
  double at_s = 0;
  /// fault: until the first request served by another backend;
  /// recovery: until the recovered backend served a read again. <0: never.
  double reaction_s = -1;
};

struct summary {
  uint64_t ops = 0;
  double seconds = 0;
  double throughput = 0;
  double p50_ms = 0, p99_ms = 0, p999_ms = 0;
  /// Reads only (get, search): what hedging is for (--scenario stutter).
  uint64_t reads = 0, read_errors = 0;
  double read_p99_ms = 0, read_p999_ms = 0;
  uint64_t errors = 0;
  /// Errors of requests sent while at least one backend was up (goal: 0).
  uint64_t errors_with_a_backend_up = 0;
  double steady_p99_ms = 0, fault_p99_ms = 0;
  std::vector<fault_cost> faults;
};

std::vector<second_row> per_second(const std::vector<sample>& samples,
                                   const std::vector<fault_event>& events, double seconds);
summary summarize(const std::vector<sample>& samples, const std::vector<applied_event>& applied,
                  double seconds);

/// Writes per_second.csv, per_second.json, events.csv, summary.json,
/// summary.txt and, if gnuplot is there, plot.png (with plot.gp) into `dir`.
/// Returns the summary text (also printed by the caller).
std::string write_outputs(const std::string& dir, const std::string& title,
                          const std::vector<second_row>& rows,
                          const std::vector<applied_event>& applied, const summary& s);

double percentile(std::vector<float> values, double p);

} // namespace lifeline::bench
