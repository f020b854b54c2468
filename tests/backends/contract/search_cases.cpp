// The contract for search: k nearest, nearest first, by each metric's
// distance (squared L2, 1 - dot, 1 - cosine). An index may approximate, so
// the exact answers are asked for with a breadth (ef) that covers the whole
// collection; exact stores ignore ef.
#include "contract.hpp"
#include "helpers.hpp"

#include "core/validation.hpp"

#include <algorithm>
#include <random>

using namespace lifeline;
using namespace lifeline::testing::contract;

LIFELINE_CONTRACT_CASE("search matches brute force for every metric when ef covers the "
                       "collection",
                       "[search]") {
  std::mt19937 rng{7};
  std::normal_distribution<float> gauss;
  constexpr size_t dim = 8, count = 300;
  for (auto m : {metric::l2, metric::ip, metric::cosine}) {
    INFO(to_string(m));
    auto name = "c_" + std::string{to_string(m)};
    REQUIRE(create(store, {name, dim, m}));
    std::vector<document> docs;
    for (size_t i = 0; i < count; ++i) {
      std::vector<float> v(dim);
      for (auto& x : v) x = gauss(rng);
      docs.push_back(doc("d" + std::to_string(i), v, "text " + std::to_string(i)));
    }
    REQUIRE(store.upsert(name, docs));
    for (int trial = 0; trial < 5; ++trial) {
      std::vector<float> q(dim);
      for (auto& x : q) x = gauss(rng);
      auto hits = store.search({name, q, 10, uint32_t(count)});
      REQUIRE(hits);
      REQUIRE(hits->size() == 10);
      // Brute force here, independently of every backend.
      auto nq = q;
      if (m == metric::cosine) normalize(nq);
      std::vector<std::pair<float, size_t>> expect;
      for (size_t i = 0; i < docs.size(); ++i) {
        auto v = docs[i].vector;
        if (m == metric::cosine) normalize(v);
        float dist = 0;
        if (m == metric::l2) {
          for (size_t j = 0; j < dim; ++j) dist += (v[j] - nq[j]) * (v[j] - nq[j]);
        } else {
          float dot = 0;
          for (size_t j = 0; j < dim; ++j) dot += v[j] * nq[j];
          dist = 1 - dot;
        }
        expect.emplace_back(dist, i);
      }
      std::sort(expect.begin(), expect.end());
      for (size_t i = 0; i < 10; ++i) {
        auto& want = docs[expect[i].second];
        CHECK((*hits)[i].id == want.id);
        CHECK((*hits)[i].distance == Approx(expect[i].first).margin(1e-3));
        CHECK((*hits)[i].content == want.content);
        CHECK((*hits)[i].metadata == want.metadata);
      }
    }
  }
}

LIFELINE_CONTRACT_CASE("k larger than the collection returns everything, nearest first",
                       "[search]") {
  REQUIRE(create(store, {"c", 1, metric::l2}));
  REQUIRE(store.upsert("c", {doc("a", {1}), doc("b", {3})}));
  auto hits = store.search({"c", {0}, 10, 0});
  REQUIRE(hits);
  REQUIRE(hits->size() == 2);
  CHECK((*hits)[0].id == "a");
  CHECK((*hits)[0].distance == 1.0f);
  CHECK((*hits)[1].id == "b");
  CHECK((*hits)[1].distance == 9.0f);
  auto one = store.search({"c", {2.9f}, 1, 0});
  REQUIRE(one);
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].id == "b");
}

LIFELINE_CONTRACT_CASE("cosine normalises at write and query, ip is 1 - dot", "[search]") {
  REQUIRE(create(store, {"cos", 2, metric::cosine}));
  REQUIRE(create(store, {"ip", 2, metric::ip}));
  REQUIRE(store.upsert("cos", {doc("x", {3, 0}), doc("y", {0, 5})}));
  REQUIRE(store.upsert("ip", {doc("x", {3, 0}), doc("y", {0, 5})}));
  auto c = store.search({"cos", {10, 0}, 2, 0});
  REQUIRE(c);
  REQUIRE(c->size() == 2);
  CHECK((*c)[0].id == "x");
  CHECK((*c)[0].distance == Approx(0.0f).margin(1e-6));
  CHECK((*c)[1].distance == Approx(1.0f).margin(1e-6));
  CHECK(store.get("cos", "x")->vector == std::vector<float>{1, 0}); // stored normalised
  CHECK(store.get("ip", "y")->vector == std::vector<float>{0, 5});  // stored as written
  auto i = store.search({"ip", {1, 1}, 2, 0});
  REQUIRE(i);
  REQUIRE(i->size() == 2);
  CHECK((*i)[0].id == "y");
  CHECK((*i)[0].distance == Approx(1.0f - 5.0f));
  CHECK((*i)[1].distance == Approx(1.0f - 3.0f));
}

LIFELINE_CONTRACT_CASE("search in an empty collection finds nothing, in a missing one not_found",
                       "[search]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  auto empty = store.search({"c", {1, 2}, 5, 0});
  REQUIRE(empty);
  CHECK(empty->empty());
  CHECK(error_of(store.search({"nope", {1, 2}, 1, 0})) == errc::not_found);
}
