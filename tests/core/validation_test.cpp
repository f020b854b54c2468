// Values at the edges (GitHub issue 11, "Values"): normalize, the vector
// checks, the distances at the limits, and the vector store serving what it
// stored finite after a reload. That every backend refuses a poison vector
// as invalid_argument or stores it and serves it finite is the backend
// contract's (contract/validation_cases.cpp).
#include "backends/hnsw_backend.hpp"
#include "core/validation.hpp"
#include "backends/contract/poison_vectors.hpp"
#include "support/temp_dir.hpp"

#include "support/vectors.hpp"

#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <limits>

using namespace lifeline;
using namespace lifeline::testing;

namespace {

const float min_denormal = std::numeric_limits<float>::denorm_min(); // ~1.4e-45

/// Stores each poison vector (the accepted ones; the collection with a
/// refused one keeps only "ok") in a collection of every metric, and the
/// extremes at the largest dimension, for a reload to serve.
void store_poison_values(backend& b) {
  int n = 0;
  for (auto m : {metric::l2, metric::ip, metric::cosine}) {
    for (auto& p : poisons()) {
      INFO(to_string(m) << ": " << p.name);
      auto c = "poison_" + std::string{to_string(m)} + "_" + std::to_string(n++);
      REQUIRE(b.create_collection({c, 2, m}));
      REQUIRE(b.upsert(c, {{"ok", {1, 2}, "", "", 1}}));
      CHECK(bool(b.upsert(c, {{"p", p.vector, "", "", 1}})) == p.accepted);
    }
    auto c = "poison_max_" + std::string{to_string(m)};
    REQUIRE(b.create_collection({c, max_dimension, m}));
    REQUIRE(b.upsert(c, {{"plus", filled(max_component), "", "", 1},
                         {"minus", filled(-max_component), "", "", 1}}));
  }
}

hnsw_config config_for(const std::string& dir) {
  hnsw_config cfg;
  cfg.directory = dir;
  cfg.index.initial_capacity = 16;
  cfg.maintenance_interval = std::chrono::hours(1);
  return cfg;
}

} // namespace

TEST_CASE("values: normalize computes in double (tiny, denormal, huge norms)", "[values]") {
  SECTION("a tiny norm whose unit vector is fine (issue 11: was [inf, inf])") {
    std::vector<float> v{1e-40f, 1e-40f};
    normalize(v);
    CHECK(v[0] == float(M_SQRT1_2));
    CHECK(v[1] == float(M_SQRT1_2));
  }
  SECTION("the smallest denormal") {
    std::vector<float> v{min_denormal, 0};
    normalize(v);
    CHECK(v == std::vector<float>{1, 0});
    std::vector<float> w{-min_denormal, min_denormal};
    normalize(w);
    CHECK(w[0] == float(-M_SQRT1_2));
    CHECK(w[1] == float(M_SQRT1_2));
  }
  SECTION("a denormal next to a large component") {
    std::vector<float> v{min_denormal, 1e15f};
    normalize(v);
    CHECK(v[1] == 1.0f);
    CHECK(v[0] >= 0);
    CHECK(v[0] < 1e-30f);
  }
  SECTION("huge components (the square overflows float, not double)") {
    std::vector<float> v{3e38f, 3e38f};
    normalize(v);
    CHECK(v[0] == float(M_SQRT1_2));
    std::vector<float> w{FLT_MAX, FLT_MAX, FLT_MAX, FLT_MAX};
    normalize(w);
    CHECK(w == std::vector<float>(4, 0.5f));
  }
  SECTION("the largest dimension at the largest component") {
    auto v = filled(max_component);
    normalize(v);
    CHECK(all_finite(v));
    CHECK(v[0] == Approx(1.0 / 256));
    CHECK(norm(v) == Approx(1.0));
  }
  SECTION("the zero vector is left as it is") {
    std::vector<float> v{0, 0, 0};
    normalize(v);
    CHECK(v == std::vector<float>{0, 0, 0});
  }
  SECTION("ordinary vectors come out at unit length") {
    std::vector<float> v{3, -4};
    normalize(v);
    CHECK(v == std::vector<float>{0.6f, -0.8f});
  }
}

TEST_CASE("values: validate_vector refuses non-finite and oversized components", "[values]") {
  for (auto& p : poisons()) {
    INFO(p.name);
    auto ok = validate_vector(p.vector, 2);
    CHECK(bool(ok) == p.accepted);
    if (!ok) CHECK(ok.error().kind == errc::invalid_argument);
    if (ok) { // then normalize makes a finite unit vector of it
      auto v = p.vector;
      normalize(v);
      CHECK(all_finite(v));
      if (norm(p.vector) > 0) CHECK(norm(v) == Approx(1.0).epsilon(1e-6));
    }
  }
  CHECK(validate_vector(filled(max_component), max_dimension));
  CHECK(validate_vector(filled(-max_component), max_dimension));
  CHECK(validate_vector(filled(min_denormal), max_dimension));
  CHECK_FALSE(validate_vector(filled(1, max_dimension + 1), max_dimension));
  CHECK_FALSE(validate_vector(std::vector<float>{1, 2, 3}, 2));
}

TEST_CASE("values: distances stay finite at the largest dimension and component",
          "[values]") {
  auto plus = filled(max_component), minus = filled(-max_component);
  CHECK(std::isfinite(distance(metric::l2, plus, minus)));
  CHECK(distance(metric::l2, plus, minus) > 1e35f);
  CHECK(std::isfinite(distance(metric::ip, plus, plus)));
  CHECK(std::isfinite(distance(metric::ip, plus, minus)));
  auto up = plus, down = minus;
  normalize(up);
  normalize(down);
  CHECK(distance(metric::cosine, up, up) == Approx(0).margin(1e-5));
  CHECK(distance(metric::cosine, up, down) == Approx(2).margin(1e-5));
}

TEST_CASE("values: vector store serves every poison vector it stored finite after a reload",
          "[values][hnsw]") {
  temp_dir dir;
  {
    hnsw_backend store{config_for(dir.path())};
    REQUIRE(store.wait_loaded());
    store_poison_values(store);
  }
  // Loaded from its log: the cosine collections are normalised again.
  hnsw_backend store{config_for(dir.path())};
  REQUIRE(store.wait_loaded());
  auto specs = store.list_collections();
  REQUIRE(specs);
  CHECK(specs->size() == 3 * poisons().size() + 3);
  for (auto& spec : *specs) {
    INFO(spec.name);
    auto hits = store.search({spec.name, filled(1, spec.dimension), 10, 0});
    REQUIRE(hits);
    CHECK_FALSE(hits->empty());
    for (auto& h : *hits) {
      CHECK(std::isfinite(h.distance));
      auto got = store.get(spec.name, h.id);
      REQUIRE(got);
      CHECK(all_finite(got->vector));
    }
  }
}
