// The backend contract (contract/*_cases.cpp) against the embedded vector
// store: a new store in a scratch directory for every case, loaded before
// the case starts. Its durability (reopen, crash, damaged files) is tested
// in hnsw_*_test.cpp.
#include "backends/hnsw_backend.hpp"
#include "contract/contract.hpp"
#include "support/temp_dir.hpp"

using namespace lifeline;
using namespace lifeline::testing;
using namespace lifeline::testing::contract;

namespace {

class hnsw_fixture final : public backend_fixture {
public:
  hnsw_fixture() : store_{config()} { REQUIRE(store_.wait_loaded()); }
  backend& store() override { return store_; }

private:
  hnsw_config config() const {
    hnsw_config cfg;
    cfg.directory = dir_.path();
    cfg.index.initial_capacity = 16; // so that cases grow the index
    cfg.maintenance_interval = std::chrono::hours(1); // no maintenance during a case
    return cfg;
  }

  temp_dir dir_; // before store_: made first, removed last
  hnsw_backend store_;
};

} // namespace

LIFELINE_CONTRACT("hnsw", [] { return std::make_unique<hnsw_fixture>(); });
