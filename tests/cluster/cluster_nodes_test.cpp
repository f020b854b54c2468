// Three `lifeline serve --node --peers --cluster-listen --etcd` processes
// over one PostgreSQL and a real etcd (issue 16): the write leader fans
// every write out to PostgreSQL and to every node's vector store over CAF's
// network layer; followers hand it their writes; node loss is a backend
// being down. Run by tests/scripts/cluster_tests.sh (a PostgreSQL and an
// etcd of its own); each case starts its nodes and stops them.
#include "support/eventually.hpp"
#include "support/required_env.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

std::string env(const char* name) { return required_env(name, "tests/scripts/cluster_tests.sh"); }

const std::vector<std::string> names{"n1", "n2", "n3"};

std::vector<std::string> node_args(const std::string& name, const std::string& dir) {
  std::string peers;
  for (auto& n : names)
    if (n != name) peers += (peers.empty() ? "" : ",") + n;
  return {"--node", name, "--peers", peers, "--cluster-listen", "127.0.0.1:0",
          "--etcd", env("LIFELINE_ETCD_URL"), "--postgres", env("LIFELINE_PG_DSN"),
          "--data-dir", dir};
}

uint64_t number_in(const std::string& body, const std::string& key) {
  auto at = body.find("\"" + key + "\":");
  return at == std::string::npos ? 0 : std::strtoull(body.c_str() + at + key.size() + 3, nullptr, 10);
}

/// The leader a node's health names ("" if none).
std::string leader_of(http_client& c) {
  auto body = c.request("GET", "/v1/health").body;
  auto at = body.find(R"("leader":")");
  if (at == std::string::npos) return {};
  at += 10;
  return body.substr(at, body.find('"', at) - at);
}

/// The slice of a health reply about one backend.
std::string backend_in(const std::string& health, const std::string& name) {
  auto at = health.find(R"({"name":")" + name + "\"");
  if (at == std::string::npos) return {};
  return health.substr(at, health.find('}', at) - at);
}

/// Three nodes, each with its own data directory (kept across restarts).
struct cluster {
  temp_dir dir;
  std::map<std::string, std::unique_ptr<server_process>> nodes;

  std::string data(const std::string& n) const { return dir.path() + "/" + n; }
  void start(const std::string& n) {
    nodes[n] = std::make_unique<server_process>(node_args(n, data(n)));
  }
  http_client client(const std::string& n) { return local_client(nodes.at(n)->port()); }
  /// Every running node's health names the same leader: which.
  std::string agreed_leader() {
    std::string leader;
    for (auto& [n, p] : nodes) {
      if (!p) continue;
      auto c = local_client(p->port());
      auto l = leader_of(c);
      if (l.empty() || (!leader.empty() && l != leader)) return {};
      leader = l;
    }
    return leader;
  }
  /// The leader's view: every backend in sync (nothing pending).
  bool leader_all_in_sync(const std::string& leader) {
    auto health = client(leader).request("GET", "/v1/health").body;
    for (auto b : {"postgres", "vectors@n1", "vectors@n2", "vectors@n3"}) {
      auto part = backend_in(health, b);
      if (part.find(R"("replica":"in_sync")") == std::string::npos) return false;
    }
    return true;
  }
  /// Starts every node; once they agree on a leader that has every backend
  /// in sync: its name.
  std::string start_all() {
    for (auto& n : names) start(n);
    std::string leader;
    REQUIRE(eventually([&] { return !(leader = agreed_leader()).empty(); }));
    REQUIRE(eventually([&] { return leader_all_in_sync(leader); }));
    return leader;
  }
  /// A consistency check on the leader compares every replica: consistent.
  std::string check(const std::string& leader) {
    return client(leader).request("GET", "/v1/admin/check").body;
  }
};

std::string doc(int i) {
  return R"({"vector":[)" + std::to_string(i) + R"(,1],"content":"d)" + std::to_string(i) + "\"}";
}

} // namespace

TEST_CASE("cluster: three nodes agree on the leader; writes through followers reach every "
          "node's vector store; every node serves reads; a check compares every replica",
          "[.cluster][nodes]") {
  cluster cl;
  auto leader = cl.start_all();
  std::string follower = leader == "n1" ? "n2" : "n1";
  auto cf = cl.client(follower);
  REQUIRE(cf.request("PUT", "/v1/collections/nodes", R"({"dimension":2})").status == 201);
  for (int i = 0; i < 20; ++i) {
    auto& via = names[i % 3];
    auto r = cl.client(via).request("PUT", "/v1/collections/nodes/documents/d" + std::to_string(i), doc(i));
    REQUIRE(r.status / 100 == 2);
    // Acknowledged on PostgreSQL and on every node's vector store.
    for (auto b : {"postgres", "vectors@n1", "vectors@n2", "vectors@n3"})
      CHECK_THAT(r.body, Catch::Contains("\"" + std::string{b} + "\":\"applied\""));
  }
  for (auto& n : names) {
    auto c = cl.client(n);
    for (int i = 0; i < 20; ++i)
      CHECK(c.request("GET", "/v1/collections/nodes/documents/d" + std::to_string(i)).status == 200);
    auto hits = c.request("POST", "/v1/collections/nodes/search", R"({"vector":[3,1],"k":1})");
    CHECK(hits.status == 200);
    CHECK_THAT(hits.body, Catch::Contains(R"("id":"d3")"));
    // Every node names every member and the same leader.
    auto health = c.request("GET", "/v1/health").body;
    CHECK_THAT(health, Catch::Contains(R"("leader":")" + leader + "\""));
    for (auto& m : names) CHECK_THAT(health, Catch::Contains(R"({"name":")" + m + "\""));
  }
  auto report = cl.check(leader);
  CHECK_THAT(report, Catch::Contains(R"("consistent":true)"));
  for (auto b : {"vectors@n1", "vectors@n2", "vectors@n3"})
    CHECK_THAT(report, Catch::Contains(b));
  // `lifeline check` against a follower: the leader compares every replica.
  temp_dir out;
  auto command = std::string{LIFELINE_SERVER} + " check --url http://127.0.0.1:"
                 + std::to_string(cl.nodes.at(follower)->port()) + " >" + out.path() + "/check 2>&1";
  CHECK(WEXITSTATUS(std::system(command.c_str())) == 0);
  std::string printed;
  if (auto* f = std::fopen((out.path() + "/check").c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) printed.append(buf, n);
    std::fclose(f);
  }
  for (auto b : {"postgres", "vectors@n1", "vectors@n2", "vectors@n3"})
    CHECK_THAT(printed, Catch::Contains(b));
  for (auto& [n, p] : cl.nodes) CHECK(p->stop() == 0);
}

TEST_CASE("cluster: the leader killed under load: a new leader takes writes within a few lease "
          "periods, and every acknowledged write is on every replica",
          "[.cluster][kill-leader]") {
  cluster cl;
  auto leader = cl.start_all();
  std::vector<std::string> followers;
  for (auto& n : names)
    if (n != leader) followers.push_back(n);
  REQUIRE(cl.client(followers[0]).request("PUT", "/v1/collections/load", R"({"dimension":2})").status == 201);

  // Two writers, one through each follower, until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<int> after_kill{0};
  std::atomic<bool> killed{false};
  std::vector<std::map<std::string, uint64_t>> acked(2);
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w)
    writers.emplace_back([&, w] {
      auto c = cl.client(followers[w]);
      for (int i = 0; !stop; ++i) {
        auto id = "w" + std::to_string(w) + "-" + std::to_string(i);
        auto r = c.request("PUT", "/v1/collections/load/documents/" + id, doc(i));
        if (r.status / 100 == 2) {
          acked[w][id] = number_in(r.body, "version");
          if (killed) ++after_kill;
        }
      }
    });
  REQUIRE(eventually([&] { return acked[0].size() + acked[1].size() >= 50; }));
  cl.nodes.at(leader)->kill();
  cl.nodes.erase(leader);
  killed = true;
  // A new leader (after the old one's 5 s lease) acknowledges writes again.
  CHECK(eventually([&] { return after_kill >= 20; }));
  stop = true;
  for (auto& t : writers) t.join();
  std::string next;
  REQUIRE(eventually([&] { return !(next = cl.agreed_leader()).empty(); }));
  CHECK(next != leader);

  // Every acknowledged write, on every node still up, at its version or later.
  size_t total = 0;
  for (auto& n : followers) {
    auto c = cl.client(n);
    for (auto& writes : acked)
      for (auto& [id, version] : writes) {
        auto r = c.request("GET", "/v1/collections/load/documents/" + id);
        CHECK(r.status == 200);
        CHECK(number_in(r.body, "version") >= version);
        ++total;
      }
  }
  CHECK(total > 0);
  // The old leader comes back as a follower; its vector store is brought in
  // sync by the new leader (replayed or rebuilt), and every replica agrees.
  // A write the old leader had sent out when it died may be on some
  // replicas only (it was never acknowledged): the new leader's first
  // background repair round makes them agree.
  cl.start(leader);
  CHECK(eventually([&] { return cl.agreed_leader() == next; }));
  CHECK(eventually([&] { return cl.leader_all_in_sync(next); }));
  std::string report;
  CHECK(eventually([&] {
    report = cl.check(next);
    return report.find(R"("consistent":true)") != std::string::npos;
  }));
  CHECK_THAT(report, Catch::Contains("vectors@" + leader));
  for (auto& [n, p] : cl.nodes) CHECK(p->stop() == 0);
}

TEST_CASE("cluster: a frozen follower (SIGSTOP) misses writes, kept in the leader's hints, and "
          "catches up once it runs again",
          "[.cluster][frozen]") {
  cluster cl;
  auto leader = cl.start_all();
  std::string frozen = leader == "n3" ? "n2" : "n3";
  auto cl_leader = cl.client(leader);
  REQUIRE(cl_leader.request("PUT", "/v1/collections/frozen", R"({"dimension":2})").status == 201);
  REQUIRE(::kill(cl.nodes.at(frozen)->pid(), SIGSTOP) == 0);
  for (int i = 0; i < 10; ++i) {
    auto r = cl_leader.request("PUT", "/v1/collections/frozen/documents/d" + std::to_string(i), doc(i));
    REQUIRE(r.status / 100 == 2);
    CHECK_THAT(r.body, Catch::Contains(R"("postgres":"applied")"));
  }
  // The frozen node's replica waits in the leader's handoff log.
  auto health = cl_leader.request("GET", "/v1/health").body;
  CHECK(backend_in(health, "vectors@" + frozen).find(R"("replica":"in_sync")") == std::string::npos);
  REQUIRE(::kill(cl.nodes.at(frozen)->pid(), SIGCONT) == 0);
  CHECK(eventually([&] { return cl.leader_all_in_sync(leader); }));
  CHECK_THAT(cl.check(leader), Catch::Contains(R"("consistent":true)"));
  for (auto& [n, p] : cl.nodes) CHECK(p->stop() == 0);
}

TEST_CASE("cluster: a node restarted with its data directory wiped is rebuilt; PostgreSQL down "
          "while a node is down: both catch up",
          "[.cluster][rejoin]") {
  cluster cl;
  auto leader = cl.start_all();
  std::string other = leader == "n3" ? "n2" : "n3";
  auto cl_leader = cl.client(leader);
  REQUIRE(cl_leader.request("PUT", "/v1/collections/rejoin", R"({"dimension":2})").status / 100 == 2);
  for (int i = 0; i < 10; ++i)
    REQUIRE(cl_leader.request("PUT", "/v1/collections/rejoin/documents/d" + std::to_string(i), doc(i)).status / 100 == 2);

  SECTION("a wiped node is rebuilt from a replica in sync") {
    REQUIRE(cl.nodes.at(other)->stop() == 0);
    cl.nodes.erase(other);
    std::filesystem::remove_all(cl.data(other));
    REQUIRE(cl_leader.request("PUT", "/v1/collections/rejoin/documents/late", doc(99)).status / 100 == 2);
    cl.start(other);
    CHECK(eventually([&] { return cl.leader_all_in_sync(leader); }));
    auto report = cl.check(leader);
    CHECK_THAT(report, Catch::Contains(R"("consistent":true)"));
    CHECK_THAT(report, Catch::Contains("vectors@" + other));
    // Its own store serves it again: ask it for a document written while it was gone.
    CHECK(cl.client(other).request("GET", "/v1/collections/rejoin/documents/late").status == 200);
  }
  SECTION("PostgreSQL down while a node is down") {
    REQUIRE(cl.nodes.at(other)->stop() == 0);
    cl.nodes.erase(other);
    REQUIRE(std::system((env("LIFELINE_PG_CTL") + " stop >/dev/null").c_str()) == 0);
    for (int i = 10; i < 20; ++i) {
      auto r = cl_leader.request("PUT", "/v1/collections/rejoin/documents/d" + std::to_string(i), doc(i));
      REQUIRE(r.status / 100 == 2);
      CHECK_THAT(r.body, Catch::Contains(R"("postgres":"deferred")"));
      CHECK_THAT(r.body, Catch::Contains("\"vectors@" + other + "\":\"deferred\""));
    }
    // Reads go on from the vector stores that are in sync.
    CHECK(cl_leader.request("GET", "/v1/collections/rejoin/documents/d15").status == 200);
    REQUIRE(std::system((env("LIFELINE_PG_CTL") + " start >/dev/null").c_str()) == 0);
    cl.start(other);
    CHECK(eventually([&] { return cl.leader_all_in_sync(leader); }));
    CHECK_THAT(cl.check(leader), Catch::Contains(R"("consistent":true)"));
  }
  for (auto& [n, p] : cl.nodes) CHECK(p->stop() == 0);
}

TEST_CASE("cluster: with PostgreSQL down a follower reads from its own vector store under the "
          "leader's read lease; a replica that missed writes is never read, also by its own "
          "node woken up from SIGSTOP",
          "[.cluster][leases]") {
  cluster cl;
  auto leader = cl.start_all();
  std::vector<std::string> followers;
  for (auto& n : names)
    if (n != leader) followers.push_back(n);
  auto& reader = followers[0];
  auto& frozen = followers[1];
  auto cl_leader = cl.client(leader);
  REQUIRE(cl_leader.request("PUT", "/v1/collections/leases", R"({"dimension":2})").status / 100 == 2);
  REQUIRE(cl_leader.request("PUT", "/v1/collections/leases/documents/d0", doc(0)).status / 100 == 2);
  REQUIRE(std::system((env("LIFELINE_PG_CTL") + " stop >/dev/null").c_str()) == 0);
  auto cr = cl.client(reader);
  // The follower's own store serves once PostgreSQL fails there.
  CHECK(eventually([&] {
    auto r = cr.request("GET", "/v1/collections/leases/documents/d0");
    return r.status == 200 && r.header("X-Served-By") == "vectors@" + reader;
  }));

  REQUIRE(::kill(cl.nodes.at(frozen)->pid(), SIGSTOP) == 0);
  auto late = cl_leader.request("PUT", "/v1/collections/leases/documents/late", doc(7));
  REQUIRE(late.status / 100 == 2);
  CHECK_THAT(late.body, Catch::Contains("\"vectors@" + frozen + "\":\"deferred\""));
  CHECK(cr.request("GET", "/v1/collections/leases/documents/late").status == 200);
  REQUIRE(::kill(cl.nodes.at(frozen)->pid(), SIGCONT) == 0);
  // At once: its lease ran out while it was frozen, so its own store (which
  // lacks the write) is not trusted; the read goes elsewhere.
  auto cf = cl.client(frozen);
  auto woken = cf.request("GET", "/v1/collections/leases/documents/late");
  CHECK(woken.status == 200);
  CHECK(woken.header("X-Served-By") != "vectors@" + frozen);
  // Caught up, it serves from its own store again.
  CHECK(eventually([&] {
    auto r = cf.request("GET", "/v1/collections/leases/documents/late");
    return r.status == 200 && r.header("X-Served-By") == "vectors@" + frozen;
  }));
  REQUIRE(std::system((env("LIFELINE_PG_CTL") + " start >/dev/null").c_str()) == 0);
  CHECK(eventually([&] { return cl.leader_all_in_sync(leader); }));
  for (auto& [n, p] : cl.nodes) CHECK(p->stop() == 0);
}
