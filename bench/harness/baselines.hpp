// Baselines measured in the same run, so that Lifeline's numbers read as
// ratios: plain libpqxx and `pgbench -S` for gets, plain hnswlib for
// searches. Each runs closed-loop on `threads` threads for `seconds`.
#pragma once

#include "harness/dataset.hpp"

#include <string>

namespace lifeline::bench {

struct rate {
  double per_second = 0; ///< 0: not measured (the reason is in `note`).
  double p99_ms = 0;
  std::string note;
};

/// The PostgreSQL password of scripts/pg.sh (LIFELINE_PG_PASSWORD_FILE or
/// LIFELINE_PG_PASSWORD), "" if neither is set.
std::string postgres_password();
/// Get-by-id through plain libpqxx: a prepared SELECT on Lifeline's own
/// table, one connection per thread.
rate raw_libpqxx_get(const std::string& conninfo, const std::string& collection, size_t docs,
                     int threads, double seconds);
/// `pgbench -S -M prepared` (its own tables, initialised at scale 1).
rate pgbench_select(int clients, double seconds);
/// Plain hnswlib (M 16, ef_construction 200, ef 64) over the same vectors.
rate raw_hnswlib_search(const dataset& data, uint32_t k, int threads, double seconds);

} // namespace lifeline::bench
