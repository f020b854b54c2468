// The coordinator in the harness's own process: PostgreSQL and a vector
// store under it, as `lifeline serve` would run them, without HTTP. Each
// call goes through coordinator_client (an asynchronous bridge actor); the
// worker thread then waits on a future, a hand-off of a few microseconds.
#pragma once

#include "harness/workload.hpp"

#include <memory>
#include <string>

namespace lifeline::bench {

class inprocess_service {
public:
  /// Backends "postgres" (conninfo, password from LIFELINE_PG_PASSWORD_FILE)
  /// and "vectors" (a store in data_dir/vectors); handoff logs in
  /// data_dir/handoff.
  inprocess_service(const std::string& conninfo, const std::string& data_dir);
  ~inprocess_service();
  std::unique_ptr<target> make_target(const std::string& collection, const dataset& data);
  /// Creates the collection (dimension of `data`).
  bool create(const std::string& collection, uint32_t dimension);
  /// Takes a backend out of service (down) or puts it back; "" if it worked.
  std::string hold(const std::string& backend, bool down);

  struct impl; ///< Public for the target it hands out.

private:
  std::unique_ptr<impl> impl_;
};

} // namespace lifeline::bench
