// Two `lifeline serve --node --etcd` processes over one PostgreSQL and a real
// etcd (issue 16, the write leader): one leads and takes writes; the other
// hands its writes to the leader and serves reads; killed (SIGKILL), the
// leader's lease runs out and the other takes over, with versions above
// every one the old leader handed out. Run by
// tests/scripts/cluster_tests.sh (a PostgreSQL and an etcd of its own).
#include "support/eventually.hpp"
#include "support/required_env.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

std::string env(const char* name) { return required_env(name, "tests/scripts/cluster_tests.sh"); }

std::vector<std::string> node_args(const std::string& name, const temp_dir& dir,
                                   const std::string& peer = "") {
  std::vector<std::string> args{"--node", name, "--etcd", env("LIFELINE_ETCD_URL"),
                                "--cluster-listen", "127.0.0.1:0", "--postgres",
                                env("LIFELINE_PG_DSN"), "--data-dir", dir.path()};
  if (!peer.empty()) args.insert(args.end(), {"--peers", peer});
  return args;
}

/// The number after `"key":` in a JSON reply (0 if absent).
uint64_t number_in(const std::string& body, const std::string& key) {
  auto at = body.find("\"" + key + "\":");
  return at == std::string::npos ? 0 : std::strtoull(body.c_str() + at + key.size() + 3, nullptr, 10);
}

} // namespace

TEST_CASE("cluster: one write leader; a follower hands it its writes and serves reads; the "
          "leader killed, the other takes over with higher versions",
          "[.cluster][leader]") {
  temp_dir d1, d2;
  server_process n1{node_args("n1", d1, "n2")};
  auto c1 = local_client(n1.port());
  CHECK(eventually([&] {
    return c1.request("GET", "/v1/health").body.find(R"("leader":"n1")") != std::string::npos;
  }));
  REQUIRE(c1.request("PUT", "/v1/collections/cluster", R"({"dimension":2})").status == 201);
  auto first = c1.request("PUT", "/v1/collections/cluster/documents/a", R"({"vector":[1,2],"content":"by n1"})");
  REQUIRE(first.status / 100 == 2);
  auto v1 = number_in(first.body, "version");
  CHECK(v1 > 0);

  server_process n2{node_args("n2", d2, "n1")};
  auto c2 = local_client(n2.port());
  auto health = c2.request("GET", "/v1/health").body;
  CHECK_THAT(health, Catch::Contains(R"("cluster":{"node":"n2","leader":"n1")"));
  // The follower hands its writes to the leader, which versions them and
  // fans them out (to n2's vector store too); it still serves reads.
  http_response forwarded;
  CHECK(eventually([&] {
    forwarded = c2.request("PUT", "/v1/collections/cluster/documents/b", R"({"vector":[3,4]})");
    return forwarded.status / 100 == 2;
  }));
  CHECK(number_in(forwarded.body, "version") > v1);
  // n2's own store is one of the leader's replicas (applied, or kept in the
  // leader's hints if the leader has not reached it yet).
  CHECK_THAT(forwarded.body, Catch::Contains(R"("vectors@n2":")"));
  auto read = c2.request("GET", "/v1/collections/cluster/documents/a");
  CHECK(read.status == 200);
  CHECK_THAT(read.body, Catch::Contains("by n1"));
  auto before_kill = c1.request("PUT", "/v1/collections/cluster/documents/a", R"({"vector":[1,2],"content":"by n1 again"})");
  REQUIRE(before_kill.status / 100 == 2);
  auto v_last = number_in(before_kill.body, "version");

  n1.kill();
  // n1's lease (5 s) runs out; n2 campaigns every lease/3 and then takes writes.
  http_response taken;
  CHECK(eventually([&] {
    taken = c2.request("PUT", "/v1/collections/cluster/documents/a", R"({"vector":[5,6],"content":"by n2"})");
    return taken.status / 100 == 2;
  }));
  CHECK(number_in(taken.body, "version") > v_last);
  CHECK_THAT(c2.request("GET", "/v1/health").body, Catch::Contains(R"("leader":"n2")"));
  auto after = c2.request("GET", "/v1/collections/cluster/documents/a");
  CHECK_THAT(after.body, Catch::Contains("by n2"));
  CHECK(n2.stop() == 0);
}

TEST_CASE("cluster: with etcd gone, the leader refuses writes within a lease and keeps serving "
          "reads",
          "[.cluster][etcd-down]") {
  temp_dir d1;
  server_process n1{node_args("n1", d1)};
  auto c1 = local_client(n1.port());
  CHECK(eventually([&] {
    return c1.request("GET", "/v1/health").body.find(R"("leader":"n1")") != std::string::npos;
  }));
  REQUIRE(c1.request("PUT", "/v1/collections/etcd_down", R"({"dimension":2})").status == 201);
  REQUIRE(c1.request("PUT", "/v1/collections/etcd_down/documents/a", R"({"vector":[1,2]})").status / 100 == 2);
  REQUIRE(std::system((env("LIFELINE_ETCD_CTL") + " kill").c_str()) == 0);
  http_response refused;
  CHECK(eventually([&] {
    refused = c1.request("PUT", "/v1/collections/etcd_down/documents/b", R"({"vector":[3,4]})");
    return refused.status == 503;
  }));
  CHECK_THAT(refused.body, Catch::Contains("write leader"));
  CHECK(c1.request("GET", "/v1/collections/etcd_down/documents/a").status == 200);
  // etcd back: n1 leads again and takes writes.
  REQUIRE(std::system((env("LIFELINE_ETCD_CTL") + " start").c_str()) == 0);
  CHECK(eventually([&] {
    return c1.request("PUT", "/v1/collections/etcd_down/documents/b", R"({"vector":[3,4]})").status / 100 == 2;
  }));
  CHECK(n1.stop() == 0);
}
