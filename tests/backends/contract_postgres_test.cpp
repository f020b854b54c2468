// The backend contract (contract/*_cases.cpp) against PostgreSQL: every case
// on a database of its own, made and dropped around it (purges and the
// replica marker span a whole database). The database sorts text by an ICU
// collation where the server has one ("a" < "B"), so that byte order in scans
// is the backend's doing, not the database's. Pooling, reconnects and the
// schema are tested in postgres_backend_test.cpp.
#include "backends/postgres_backend.hpp"
#include "contract/contract.hpp"
#include "support/postgres_env.hpp"

using namespace lifeline;
using namespace lifeline::testing;
using namespace lifeline::testing::contract;

namespace {

std::unique_ptr<scratch_database> make_database() {
  static bool icu = true; // until the server says it has no ICU
  if (icu) {
    try {
      return std::make_unique<scratch_database>(
        "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'");
    } catch (const std::exception& e) {
      icu = false;
      WARN("no ICU collation (" << e.what() << "): the contract runs on the default collation");
    }
  }
  return std::make_unique<scratch_database>();
}

class postgres_fixture final : public backend_fixture {
public:
  postgres_fixture() : db_{make_database()}, store_{db_->config(4)} {}
  backend& store() override { return store_; }

private:
  std::unique_ptr<scratch_database> db_; // before store_: dropped after it disconnects
  postgres_backend store_;
};

} // namespace

LIFELINE_CONTRACT("postgres", [] { return std::make_unique<postgres_fixture>(); });
