// A coordinator over two supervised in-memory backends ("primary" first,
// then "secondary"), each behind a fault injector, on CAF's deterministic
// scheduler. Time moves only through advance().
#pragma once

#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"
#include "metrics/counting_metrics.hpp"
#include "support/faulty_backend.hpp"
#include "support/test_system.hpp"

#include <functional>

namespace lifeline::testing {

struct two_backends : test_system {
  using tweak = std::function<void(runtime_config&)>;

  std::shared_ptr<faulty_backend> primary
    = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  std::shared_ptr<faulty_backend> secondary
    = std::make_shared<faulty_backend>(std::make_shared<memory_backend>());
  std::shared_ptr<counting_metrics> metrics = std::make_shared<counting_metrics>();
  runtime rt;
  runtime_config config;

  /// The defaults used by the tests (deterministic: no jitter).
  static runtime_config defaults();

  explicit two_backends(const tweak& change = {});
  ~two_backends();

  coordinator_actor coordinator() const { return rt.coordinator; }

  /// Stops the runtime and starts a new one with the same configuration
  /// and stores (a process restart, with the databases kept).
  void respawn();

  /// The coordinator's view of backend `name`.
  backend_health health_of(const std::string& name);

  /// Makes the primary crash on every get and reads until its supervisor
  /// gives up (restart-intensity limit 3): it is `failed` afterwards, each
  /// read served by the secondary.
  void crash_primary_until_failed();

  /// Creates collection "c" (dimension 2, l2) with documents a=(0,0), b=(1,1).
  void seed_data();

  caf::expected<served<document>> get(const std::string& id) {
    return ask<served<document>>(coordinator(), get_atom::value, std::string{"c"}, id);
  }
  caf::expected<served<std::vector<search_hit>>> search(std::vector<float> q, uint32_t k) {
    return ask<served<std::vector<search_hit>>>(coordinator(), search_atom::value,
                                                search_query{"c", std::move(q), k, 0});
  }
  caf::expected<write_receipt> upsert(document d) {
    return ask<write_receipt>(coordinator(), upsert_atom::value, std::string{"c"},
                              std::vector<document>{std::move(d)});
  }
};

} // namespace lifeline::testing
