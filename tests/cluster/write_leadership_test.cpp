// The write leader elected in etcd, and the version ceiling fenced by its
// term (issue 16), against a real etcd (tests/scripts/etcd_tests.sh).
#include "cluster/write_leadership.hpp"

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

struct two_nodes {
  std::string prefix = unique_prefix("election");
  etcd_client etcd_a{{etcd_url()}, 2s}, etcd_b{{etcd_url()}, 2s};
  write_leadership a{etcd_a, {prefix, "n1", 30s}};
  write_leadership b{etcd_b, {prefix, "n2", 30s}};
};

} // namespace

TEST_CASE("write leadership: of two candidates exactly one leads, and both agree who",
          "[etcd][leader]") {
  two_nodes t;
  auto first = t.a.campaign();
  REQUIRE(first);
  CHECK(first->mine);
  CHECK(first->leader == "n1");
  auto second = t.b.campaign();
  REQUIRE(second);
  CHECK_FALSE(second->mine);
  CHECK(second->leader == "n1");
  CHECK(second->term == first->term);
  // Campaigning again changes nothing (a retried call).
  auto again = t.a.campaign();
  REQUIRE(again);
  CHECK(again->mine);
  CHECK(again->term == first->term);
  auto renewed = t.a.renew();
  REQUIRE(renewed);
  CHECK(*renewed);
}

TEST_CASE("write leadership: the version ceiling only grows, across leaders, and a deposed "
          "leader can no longer raise it",
          "[etcd][leader]") {
  two_nodes t;
  REQUIRE(t.a.campaign()->mine);
  auto raised = t.a.raise_ceiling(1000);
  REQUIRE(raised);
  CHECK(*raised == 1000);
  CHECK(t.a.raise_ceiling(10).value() == 1000); // never lowered
  CHECK_FALSE(t.b.raise_ceiling(5000));          // not the leader

  // n1's term ends (its lease is revoked as it would expire); n2 leads next.
  etcd_client admin{{etcd_url()}, 2s};
  auto held = admin.get(t.a.leader_key());
  REQUIRE(held);
  REQUIRE(*held);
  REQUIRE(admin.revoke((*held)->lease));
  auto next = t.b.campaign();
  REQUIRE(next);
  REQUIRE(next->mine);
  CHECK(next->term > (*held)->create_revision);
  CHECK(t.b.raise_ceiling(1500).value() == 1500);

  // n1 still believes it leads, but its term is over: fenced.
  CHECK(t.a.leading());
  auto fenced = t.a.raise_ceiling(9000);
  REQUIRE_FALSE(fenced);
  CHECK(fenced.error().kind == errc::conflict);
  CHECK_THAT(fenced.error().message, Catch::Contains("fenced"));
  CHECK_FALSE(t.a.leading());
  CHECK(t.b.ceiling().value() == 1500);
  // And it learns that it lost when it renews.
  auto renewed = t.a.renew();
  REQUIRE(renewed);
  CHECK_FALSE(*renewed);
}

TEST_CASE("write leadership: a leader that stops renewing loses its key when the lease runs "
          "out, and another node takes over",
          "[etcd][leader]") {
  auto prefix = unique_prefix("election");
  etcd_client etcd_a{{etcd_url()}, 2s}, etcd_b{{etcd_url()}, 2s};
  write_leadership a{etcd_a, {prefix, "n1", 1s}}; // etcd's minimum TTL is enforced server-side
  write_leadership b{etcd_b, {prefix, "n2", 30s}};
  REQUIRE(a.campaign()->mine);
  // n1 never renews. n2 campaigns until the lease has run out: bounded by
  // etcd's expiry (TTL plus its minimum), each campaign one round trip.
  auto until = std::chrono::steady_clock::now() + 30s;
  leader_view view;
  while (std::chrono::steady_clock::now() < until) {
    auto r = b.campaign();
    REQUIRE(r);
    view = *r;
    if (view.mine) break;
    CHECK(view.leader == "n1");
  }
  CHECK(view.mine);
  CHECK(view.leader == "n2");
  auto renewed = a.renew();
  REQUIRE(renewed);
  CHECK_FALSE(*renewed);
  CHECK_FALSE(a.raise_ceiling(1));
}

TEST_CASE("write leadership: a resigned leader hands over at once", "[etcd][leader]") {
  two_nodes t;
  REQUIRE(t.a.campaign()->mine);
  REQUIRE(t.a.resign());
  CHECK_FALSE(t.a.leading());
  auto next = t.b.campaign();
  REQUIRE(next);
  CHECK(next->mine);
}

TEST_CASE("write leadership: a node that stepped down (etcd unreachable) ends its own old term "
          "when it campaigns again",
          "[etcd][leader]") {
  two_nodes t;
  auto first = t.a.campaign();
  REQUIRE(first);
  REQUIRE(first->mine);
  // It could not renew for a lease and stopped acting as leader; its old
  // key (and lease) are still in etcd.
  t.a.step_down();
  CHECK_FALSE(t.a.leading());
  auto again = t.a.campaign();
  REQUIRE(again);
  CHECK(again->mine);
  CHECK(again->term > first->term);
  // The other node still sees one leader, in the new term.
  auto other = t.b.campaign();
  REQUIRE(other);
  CHECK_FALSE(other->mine);
  CHECK(other->term == again->term);
}
