// Ingest baselines (issue 14, "Writes"): batches of new documents, several
// in flight, through Lifeline (in process and over HTTP), through each
// backend alone (the backend objects called directly, so the report says
// which one bounds ingest), and through the plain clients (raw hnswlib's
// parallel insert, a plain libpqxx batch INSERT), all in the same run so the
// rows read as ratios. HTTP rows also report the bench process's own CPU
// use: client and server share the machine's cores.
#pragma once

#include "harness/dataset.hpp"
#include "harness/workload.hpp"

#include <functional>
#include <memory>
#include <string>

namespace lifeline::bench {

struct ingest_rate {
  double docs_per_second = 0; ///< 0: not measured (the reason is in `note`).
  double batch_p50_ms = 0;    ///< Per batch (0 for raw hnswlib: no batches).
  /// CPU the bench process used during the run, in cores (CPU-seconds per
  /// second); < 0: not reported.
  double client_cores = -1;
  uint64_t errors = 0;
  std::string note;
};

struct ingest_config {
  uint32_t batch = 50;
  int in_flight = 8;
  double seconds = 5;
};

/// Raw hnswlib (M 16, ef_construction 200), `threads` threads inserting the
/// data set's vectors into one index with addPoint: docs/s over the build.
ingest_rate raw_hnswlib_parallel_insert(const dataset& data, int threads);

/// Plain libpqxx: one multi-row INSERT (unnest of parallel arrays) per batch
/// of new documents into lifeline_documents, one connection per batch in
/// flight. Uses (and afterwards drops) the collection `collection`.
ingest_rate raw_libpqxx_batch_insert(const std::string& conninfo, const std::string& collection,
                                     const dataset& data, const ingest_config& cfg);

/// Batches of new documents (ids d<first_id>...) through a target (HTTP or
/// the in-process coordinator); `measure_cpu` adds the process's CPU use.
ingest_rate target_ingest(const std::function<std::unique_ptr<target>()>& make_target,
                          const dataset& data, const ingest_config& cfg, size_t first_id,
                          bool measure_cpu);

/// Each backend alone: a fresh vector store in `dir` and the PostgreSQL of
/// `conninfo` (a collection `collection` created there and dropped after),
/// their upsert() called directly from `in_flight` threads.
struct backend_ingest_rates {
  ingest_rate vectors, postgres;
};
backend_ingest_rates backend_ingest(const std::string& conninfo, const std::string& dir,
                                    const std::string& collection, const dataset& data,
                                    const ingest_config& cfg);

} // namespace lifeline::bench

namespace lifeline::bench {

/// CPU-seconds this process has used so far (user + system).
double process_cpu_seconds();
/// CPU-seconds every core of the machine has been busy so far (/proc/stat).
double machine_busy_seconds();

/// Every ingest row of one run; `format_ingest` prints them as a block with
/// ratios against raw hnswlib's parallel insert (the goal: >= 0.5).
struct ingest_rows {
  ingest_rate raw_hnswlib, raw_libpqxx, vectors_alone, postgres_alone, inprocess, http;
};
std::string format_ingest(const ingest_rows& rows, const ingest_config& cfg, int raw_threads);

} // namespace lifeline::bench
