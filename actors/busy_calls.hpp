// Backend calls running right now, by backend kind. Why: a stop that gives
// up waiting for the backends (a detached worker blocked in a database call
// cannot be interrupted) names in its last log line which backends were
// still busy, so the operator knows what held it. A mutex and a small map:
// cheap next to any backend call.
#pragma once

#include <map>
#include <string>

namespace lifeline {

/// Counts one call of a backend of `kind` for as long as it lives.
class busy_call {
public:
  explicit busy_call(std::string kind);
  ~busy_call();
  busy_call(const busy_call&) = delete;
  busy_call& operator=(const busy_call&) = delete;

private:
  std::string kind_;
};

/// Calls running now, by backend kind (kinds with none are left out).
std::map<std::string, unsigned> busy_calls();

/// "postgres: 2 calls, hnsw: 1 call", or "none".
std::string describe_busy_calls();

} // namespace lifeline
