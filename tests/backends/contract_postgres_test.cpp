// The backend contract (contract/*_cases.cpp) against PostgreSQL: every case
// on a database of its own, made and dropped around it (purges and the
// replica marker span a whole database). The database sorts text by an ICU
// collation where the server has one ("a" < "B"), so that byte order in scans
// is the backend's doing, not the database's. Pooling, reconnects and the
// schema are tested in postgres_backend_test.cpp.
#include "backends/postgres_backend.hpp"
#include "contract/contract.hpp"
#include "support/postgres_env.hpp"

#include <future>

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

/// The same backend with every get answered by its asynchronous reader
/// (get_async, waited for here): the contract then checks that the direct
/// read path answers exactly as get() does.
class async_gets final : public backend {
public:
  explicit async_gets(backend& inner) : inner_(inner) {}
  std::string kind() const override { return inner_.kind(); }
  lifeline::capabilities capabilities() const override { return inner_.capabilities(); }
  expected<bool> create_collection(const collection_spec& s) override { return inner_.create_collection(s); }
  expected<void> drop_collection(const std::string& n) override { return inner_.drop_collection(n); }
  expected<std::vector<collection_spec>> list_collections() override { return inner_.list_collections(); }
  expected<lifeline::collection_stats> collection_stats(const std::string& n) override {
    return inner_.collection_stats(n);
  }
  expected<void> upsert(const std::string& c, const std::vector<document>& d) override {
    return inner_.upsert(c, d);
  }
  expected<document> get(const std::string& c, const std::string& id) override {
    REQUIRE(inner_.direct_reads().has(operation::get));
    auto p = std::make_shared<std::promise<expected<document>>>();
    auto f = p->get_future();
    inner_.get_async(c, id, [p](expected<document> r) { p->set_value(std::move(r)); });
    REQUIRE(f.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    return f.get();
  }
  expected<bool> remove(const std::string& c, const std::string& id, uint64_t v) override {
    return inner_.remove(c, id, v);
  }
  expected<std::vector<document>> scan(const scan_request& r) override { return inner_.scan(r); }
  expected<std::vector<version_entry>> versions(const range_request& r) override {
    return inner_.versions(r);
  }
  expected<range_digest> digest(const range_request& r) override { return inner_.digest(r); }
  expected<uint64_t> purge_tombstones(uint64_t up_to) override { return inner_.purge_tombstones(up_to); }
  expected<std::string> replica_marker() override { return inner_.replica_marker(); }
  expected<void> set_replica_marker(const std::string& m) override { return inner_.set_replica_marker(m); }
  expected<std::vector<search_hit>> search(const search_query& q) override { return inner_.search(q); }
  expected<void> probe() override { return inner_.probe(); }

private:
  backend& inner_;
};

class postgres_async_fixture final : public backend_fixture {
public:
  postgres_async_fixture() : db_{make_database()}, store_{db_->config(4)}, gets_{store_} {}
  backend& store() override { return gets_; }

private:
  std::unique_ptr<scratch_database> db_;
  postgres_backend store_;
  async_gets gets_;
};

} // namespace

LIFELINE_CONTRACT("postgres", [] { return std::make_unique<postgres_fixture>(); });
LIFELINE_CONTRACT("postgres-async-get", [] { return std::make_unique<postgres_async_fixture>(); });
