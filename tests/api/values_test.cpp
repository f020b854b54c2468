// GitHub issue 11 ("Values") against the real `lifeline serve`, the private
// PostgreSQL and a vector store on disk: a poison vector is either refused
// with 400, or stored and then served (get and search) by each backend; the
// server stays healthy; a fresh server over the same database, whose vector
// store is rebuilt from PostgreSQL, becomes healthy too.
#include "support/eventually.hpp"
#include "support/postgres_env.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

struct poison {
  std::string name;   ///< Short, for collection names.
  std::string vector; ///< JSON.
  bool accepted;      ///< Stored and served; else refused with 400.
  uint32_t dimension = 2;
};

std::string repeated(const std::string& x, size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) out += (i ? "," : "") + x;
  return out + "]";
}

constexpr size_t max_dimension = 65536;

std::vector<poison> poisons() {
  return {
    {"tiny", "[1e-40,1e-40]", true}, // issue 11: cosine stored [inf, inf]
    {"denormal", "[1e-45,0]", true},
    {"denormal_large", "[1e-45,1e15]", true},
    {"underflow", "[1e-320,1]", true}, // 0 as a float
    {"largest", "[1e15,1e15]", true},
    {"opposite", "[-1e15,1e15]", true},
    {"zero", "[0,0]", true},
    {"huge", "[3e38,3e38]", false},
    {"above", "[1e16,0]", false},
    {"max_plus", repeated("1e15", max_dimension), true, max_dimension},
    {"max_minus", repeated("-1e15", max_dimension), true, max_dimension},
  };
}

/// The numbers after each occurrence of `key` (e.g. "\"distance\":"), or of
/// the array after it ("\"vector\":["). Sets `ok` false on anything that is
/// not a finite number (inf, nan, null: what a non-finite float renders as).
std::vector<double> numbers_after(const std::string& body, const std::string& key, bool& ok) {
  std::vector<double> out;
  bool array = key.back() == '[';
  for (auto at = body.find(key); at != std::string::npos; at = body.find(key, at + 1)) {
    auto p = body.c_str() + at + key.size();
    for (;;) {
      char* end = nullptr;
      double d = std::strtod(p, &end);
      if (end == p || !std::isfinite(d)) {
        ok = false;
        return out;
      }
      out.push_back(d);
      p = end;
      if (!array || *p != ',') break;
      ++p;
    }
  }
  return out;
}

bool healthy(http_client& c) {
  auto h = c.request("GET", "/v1/health");
  return h.status == 200 && h.body.find(R"("status":"ok")") != std::string::npos
         && h.body.find("restarting") == std::string::npos
         && h.body.find(R"("state":"failed")") == std::string::npos;
}

void await_healthy(http_client& c) { REQUIRE(eventually([&] { return healthy(c); })); }

std::string collection_of(const std::string& metric, const poison& p) {
  return "/v1/collections/poison_" + metric + "_" + p.name;
}

/// Reads every stored poison document through the one backend `backend`
/// (the other one stopped): get and search, every number finite.
void read_through(http_client& c, const std::string& backend, const std::string& other) {
  REQUIRE(c.request("POST", "/v1/admin/backends/" + other + "/stop").status == 202);
  for (std::string metric : {"l2", "ip", "cosine"}) {
    for (auto& p : poisons()) {
      if (!p.accepted) continue;
      INFO(backend << ": " << metric << ": " << p.name);
      auto coll = collection_of(metric, p);
      auto got = c.request("GET", coll + "/documents/p");
      INFO(got.body.substr(0, 300));
      REQUIRE(got.status == 200);
      CHECK(got.header("x-served-by") == backend);
      bool ok = true;
      auto v = numbers_after(got.body, R"("vector":[)", ok);
      CHECK(ok);
      CHECK(v.size() == p.dimension);
      for (auto& query : {p.vector, repeated("0.5", p.dimension)}) {
        auto found = c.request("POST", coll + "/search", R"({"vector":)" + query + R"(,"k":5})");
        REQUIRE(found.status == 200);
        CHECK(found.header("x-served-by") == backend);
        CHECK(found.body.find(R"("id":"p")") != std::string::npos);
        bool finite = true;
        auto distances = numbers_after(found.body, R"("distance":)", finite);
        CHECK(finite);
        CHECK(distances.size() == 2);
      }
    }
  }
  CHECK(healthy(c) == false); // degraded while the other is stopped
  REQUIRE(c.request("POST", "/v1/admin/backends/" + other + "/start").status == 202);
  await_healthy(c);
}

} // namespace

TEST_CASE("http: poison vectors are refused with 400 or stored and served by every "
          "backend, the server stays healthy and a fresh one over the same database starts",
          "[http][values]") {
  scratch_database db;
  {
    temp_dir data;
    server_process server{{"--data-dir", data.path(), "--postgres", serve_dsn(db)}};
    auto c = local_client(server.port());
    await_healthy(c);
    for (std::string metric : {"l2", "ip", "cosine"}) {
      for (auto& p : poisons()) {
        INFO(metric << ": " << p.name);
        auto coll = collection_of(metric, p);
        REQUIRE(c.request("PUT", coll,
                          R"({"dimension":)" + std::to_string(p.dimension) + R"(,"metric":")"
                            + metric + "\"}")
                  .status
                == 201);
        REQUIRE(c.request("PUT", coll + "/documents/ok",
                          R"({"vector":)" + repeated("1", p.dimension) + "}")
                  .status
                == 200);
        auto put = c.request("PUT", coll + "/documents/p", R"({"vector":)" + p.vector + "}");
        INFO(put.body.substr(0, 300));
        if (p.accepted) {
          CHECK(put.status == 200);
          CHECK(put.body.find(R"("backends":{"postgres":"applied","vectors":"applied"})")
                != std::string::npos);
        } else {
          CHECK(put.status == 400);
          auto query = c.request("POST", coll + "/search", R"({"vector":)" + p.vector + "}");
          CHECK(query.status == 400);
          auto missing = c.request("GET", coll + "/documents/p");
          INFO(missing.body);
          CHECK(missing.status == 404);
        }
      }
    }
    REQUIRE(healthy(c));
    read_through(c, "postgres", "vectors");
    read_through(c, "vectors", "postgres");
    CHECK(healthy(c));
    CHECK(server.stop() == 0);
  }
  // A new data directory: the vector store is rebuilt from PostgreSQL.
  temp_dir data;
  server_process server{{"--data-dir", data.path(), "--postgres", serve_dsn(db)}};
  auto c = local_client(server.port());
  await_healthy(c);
  read_through(c, "vectors", "postgres");
  CHECK(healthy(c));
  CHECK(server.stop() == 0);
}
