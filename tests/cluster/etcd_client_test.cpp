// The etcd v3 JSON gateway client (issue 16) against a real etcd
// (tests/scripts/etcd_tests.sh starts one and sets LIFELINE_ETCD_URL).
#include "cluster/etcd_client.hpp"

#include "support/etcd_env.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <unistd.h>

using namespace lifeline;
using namespace lifeline::cluster;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

} // namespace

TEST_CASE("base64 round-trips every byte and refuses what is not base64", "[etcd][base64]") {
  std::string all;
  for (int c = 0; c < 256; ++c) all += char(c);
  for (size_t n = 0; n <= all.size(); n += 37) {
    auto part = all.substr(0, n);
    auto back = base64_decode(base64_encode(part));
    REQUIRE(back);
    CHECK(*back == part);
  }
  CHECK(base64_encode("n1") == "bjE=");
  CHECK(base64_encode("/lifeline/leader") == "L2xpZmVsaW5lL2xlYWRlcg==");
  CHECK_FALSE(base64_decode("abc"));
  CHECK_FALSE(base64_decode("ab!="));
  CHECK_FALSE(base64_decode("a=bc"));
}

TEST_CASE("etcd client: put in a transaction, read back, compare on revisions", "[etcd]") {
  etcd_client etcd{{etcd_url()}, 2s};
  auto key = unique_prefix("k") + "/k";
  auto absent = etcd.get(key);
  REQUIRE(absent);
  CHECK_FALSE(*absent);
  // Create only if absent: the first succeeds, the second reads what is there.
  auto created = etcd.txn({{key, etcd_compare::field::create_revision, 0, {}}}, {{key, "one", 0}}, {key});
  REQUIRE(created);
  CHECK(created->succeeded);
  auto again = etcd.txn({{key, etcd_compare::field::create_revision, 0, {}}}, {{key, "two", 0}}, {key});
  REQUIRE(again);
  CHECK_FALSE(again->succeeded);
  REQUIRE(again->read.size() == 1);
  REQUIRE(again->read[0]);
  CHECK(again->read[0]->value == "one");
  CHECK(again->read[0]->create_revision == created->revision);
  // A value with every byte survives the gateway's base64.
  std::string binary{"\0\xff/\"{}\n", 7};
  auto mod = again->read[0]->mod_revision;
  auto swapped = etcd.txn({{key, etcd_compare::field::mod_revision, mod, {}}}, {{key, binary, 0}});
  REQUIRE(swapped);
  CHECK(swapped->succeeded);
  auto read = etcd.get(key);
  REQUIRE(read);
  REQUIRE(*read);
  CHECK((*read)->value == binary);
  CHECK((*read)->create_revision == created->revision);
  CHECK((*read)->mod_revision == swapped->revision);
  // The old mod revision no longer matches.
  auto stale = etcd.txn({{key, etcd_compare::field::mod_revision, mod, {}}}, {{key, "x", 0}});
  REQUIRE(stale);
  CHECK_FALSE(stale->succeeded);
}

TEST_CASE("etcd client: a revoked lease takes its keys along; keepalive reports the expiry",
          "[etcd]") {
  etcd_client etcd{{etcd_url()}, 2s};
  auto key = unique_prefix("k") + "/leased";
  auto lease = etcd.grant(30s);
  REQUIRE(lease);
  auto left = etcd.keepalive(*lease);
  REQUIRE(left);
  CHECK(*left > 0);
  REQUIRE(etcd.txn({}, {{key, "held", *lease}}));
  auto held = etcd.get(key);
  REQUIRE(held);
  REQUIRE(*held);
  CHECK((*held)->lease == *lease);
  REQUIRE(etcd.revoke(*lease));
  auto gone = etcd.get(key);
  REQUIRE(gone);
  CHECK_FALSE(*gone);
  auto expired = etcd.keepalive(*lease);
  REQUIRE(expired);
  CHECK(*expired == 0);
}

TEST_CASE("etcd client: with no member reachable, a call fails within its bound", "[etcd]") {
  // A port nothing listens on, then the real member: the second one answers.
  etcd_client fallback{{"http://127.0.0.1:1", etcd_url()}, 2s};
  auto read = fallback.get(unique_prefix("k") + "/any");
  REQUIRE(read);
  etcd_client none{{"http://127.0.0.1:1"}, 500ms};
  auto failed = none.get("/any");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().kind == errc::backend_unavailable);
  CHECK_THAT(failed.error().message, Catch::Contains("etcd unreachable"));
}
