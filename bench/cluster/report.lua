-- wrk: the one line run.sh reads from each wrk run (shared by get.lua and put.lua).
return function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors=%d non2xx=%d p99_ms=%.2f seconds=%.2f\n",
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(99) / 1000, summary.duration / 1e6))
end
