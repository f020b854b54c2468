#include "harness/dataset.hpp"

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

using namespace lifeline::bench;
using lifeline::testing::temp_dir;
namespace fs = std::filesystem;

namespace {

double distance(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s);
}

std::vector<uint32_t> naive_neighbours(const dataset& d, uint32_t k) {
  std::vector<uint32_t> out;
  for (size_t q = 0; q < d.query_count(); ++q) {
    std::vector<std::pair<float, uint32_t>> all;
    for (uint32_t i = 0; i < d.size(); ++i)
      all.emplace_back(squared_l2(d.query(q), d.vector(i)), i);
    std::sort(all.begin(), all.end());
    for (uint32_t r = 0; r < k; ++r) out.push_back(all[r].second);
  }
  return out;
}

void truncate_by(const std::string& path, uintmax_t bytes) {
  fs::resize_file(path, fs::file_size(path) - bytes);
}

} // namespace

TEST_CASE("generation is deterministic per seed", "[bench]") {
  auto a = generate(16, 500, 20, 42);
  auto b = generate(16, 500, 20, 42);
  auto c = generate(16, 500, 20, 43);
  CHECK(a.dimension == 16);
  CHECK(a.size() == 500);
  CHECK(a.query_count() == 20);
  CHECK(a.base == b.base);
  CHECK(a.queries == b.queries);
  CHECK(a.base != c.base);
  CHECK(a.queries != c.queries);
  // Queries are a separate stream, not the first base points again.
  CHECK(!std::equal(a.queries.begin(), a.queries.end(), a.base.begin()));
}

TEST_CASE("generated points are clustered", "[bench]") {
  auto d = generate(16, 2000, 50, 7, 16);
  // Nearest base point of a query (same cluster) versus an average base point.
  double nearest = 0, average = 0;
  for (size_t q = 0; q < d.query_count(); ++q) {
    double best = 1e30, sum = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      double dist = distance(d.query(q), d.vector(i));
      best = std::min(best, dist);
      sum += dist;
    }
    nearest += best;
    average += sum / double(d.size());
  }
  CHECK(nearest * 3 < average);
  // Coordinates stay near [-1, 1] (centres there, noise sigma 0.15).
  auto [lo, hi] = std::minmax_element(d.base.begin(), d.base.end());
  CHECK(*lo > -2.0f);
  CHECK(*hi < 2.0f);
}

TEST_CASE("exact_neighbours matches a naive computation", "[bench]") {
  auto d = generate(8, 300, 37, 3, 4);
  auto fast = exact_neighbours(d, 10);
  REQUIRE(fast.size() == 37 * 10);
  CHECK(fast == naive_neighbours(d, 10));

  SECTION("ties go to the lower index") {
    dataset t;
    t.dimension = 2;
    t.base = {1, 0, 0, 1, -1, 0, 0, -1, 5, 5};
    t.queries = {0, 0};
    CHECK(exact_neighbours(t, 3) == std::vector<uint32_t>{0, 1, 2});
  }
  SECTION("k larger than the base is refused") { CHECK_THROWS(exact_neighbours(d, 301)); }
}

TEST_CASE("fvecs and ivecs round trip", "[bench]") {
  temp_dir dir;
  auto d = generate(5, 40, 3, 1);
  write_fvecs(dir.path() + "/v.fvecs", 5, d.base);
  auto back = read_fvecs(dir.path() + "/v.fvecs");
  CHECK(back.dimension == 5);
  CHECK(back.rows() == 40);
  CHECK(back.values == d.base);
  CHECK(fs::file_size(dir.path() + "/v.fvecs") == 40 * (4 + 5 * 4));
  CHECK(read_fvecs(dir.path() + "/v.fvecs", 7).rows() == 7);

  std::vector<uint32_t> ids(60);
  std::iota(ids.begin(), ids.end(), 1000);
  write_ivecs(dir.path() + "/t.ivecs", 6, ids);
  auto ib = read_ivecs(dir.path() + "/t.ivecs");
  CHECK(ib.dimension == 6);
  CHECK(ib.values == ids);

  // Little-endian on disk: the first row starts with dimension 6, then 1000.
  std::ifstream in(dir.path() + "/t.ivecs", std::ios::binary);
  unsigned char head[8];
  in.read(reinterpret_cast<char*>(head), 8);
  CHECK(std::vector<int>(head, head + 8) == std::vector<int>{6, 0, 0, 0, 0xe8, 0x03, 0, 0});

  CHECK_THROWS_AS(write_fvecs(dir.path() + "/bad.fvecs", 3, d.base), std::invalid_argument);
}

TEST_CASE("damaged vector files give errors naming file and row", "[bench]") {
  temp_dir dir;
  auto path = dir.path() + "/v.fvecs";
  write_fvecs(path, 4, generate(4, 10, 0, 1).base);

  SECTION("truncated row") {
    truncate_by(path, 3);
    CHECK_THROWS_WITH(read_fvecs(path), Catch::Contains(path) && Catch::Contains("row 9") &&
                                            Catch::Contains("truncated"));
  }
  SECTION("inconsistent dimension") {
    std::vector<float> wide(5, 1.0f);
    write_fvecs(dir.path() + "/w.fvecs", 5, wide);
    std::ofstream(path, std::ios::binary | std::ios::app)
        << std::ifstream(dir.path() + "/w.fvecs", std::ios::binary).rdbuf();
    CHECK_THROWS_WITH(read_fvecs(path),
                      Catch::Contains("row 10") && Catch::Contains("dimension 5"));
  }
  SECTION("missing file") {
    CHECK_THROWS_WITH(read_fvecs(dir.path() + "/nope.fvecs"), Catch::Contains("nope.fvecs"));
  }
}

TEST_CASE("the synthetic cache is reused and repaired", "[bench]") {
  temp_dir dir;
  cache_report report;
  auto first = load_or_generate(dir.path(), 8, 400, 25, 5, 9, &report);
  CHECK(report.generated);
  CHECK(report.computed_truth);
  CHECK(first.k == 5);
  CHECK(first.truth == exact_neighbours(first, 5));

  auto stem = dir.path() + "/" + cache_stem(8, 400, 25, 9);
  CHECK(stem.ends_with("synthetic-d8-n400-q25-s9"));
  REQUIRE(fs::exists(stem + ".base.fvecs"));
  REQUIRE(fs::exists(stem + ".query.fvecs"));
  REQUIRE(fs::exists(stem + "-k5.truth.ivecs"));
  auto stamp = fs::last_write_time(stem + ".base.fvecs");

  auto second = load_or_generate(dir.path(), 8, 400, 25, 5, 9, &report);
  CHECK_FALSE(report.generated);
  CHECK_FALSE(report.computed_truth);
  CHECK(second.base == first.base);
  CHECK(second.queries == first.queries);
  CHECK(second.truth == first.truth);
  CHECK(fs::last_write_time(stem + ".base.fvecs") == stamp);

  SECTION("another k reuses the vectors") {
    auto other = load_or_generate(dir.path(), 8, 400, 25, 3, 9, &report);
    CHECK_FALSE(report.generated);
    CHECK(report.computed_truth);
    CHECK(fs::exists(stem + "-k3.truth.ivecs"));
    CHECK(other.truth == exact_neighbours(first, 3));
  }
  SECTION("a truncated base file is regenerated") {
    truncate_by(stem + ".base.fvecs", 10);
    auto again = load_or_generate(dir.path(), 8, 400, 25, 5, 9, &report);
    CHECK(report.generated);
    CHECK(again.base == first.base);
    CHECK(again.truth == first.truth);
    CHECK(read_fvecs(stem + ".base.fvecs").rows() == 400);
  }
  SECTION("a truncated truth file is recomputed") {
    truncate_by(stem + "-k5.truth.ivecs", 4);
    auto again = load_or_generate(dir.path(), 8, 400, 25, 5, 9, &report);
    CHECK_FALSE(report.generated);
    CHECK(report.computed_truth);
    CHECK(again.truth == first.truth);
  }
}

TEST_CASE("load_files reads user sets and computes missing truth", "[bench]") {
  temp_dir dir;
  auto d = generate(6, 200, 12, 5);
  auto base = dir.path() + "/base.fvecs", query = dir.path() + "/query.fvecs";
  write_fvecs(base, 6, d.base);
  write_fvecs(query, 6, d.queries);
  auto truth = exact_neighbours(d, 4);

  auto loaded = load_files(base, query, "", 4);
  CHECK(loaded.base == d.base);
  CHECK(loaded.truth == truth);
  CHECK(fs::exists(query + ".truth-k4.ivecs"));
  CHECK(load_files(base, query, "", 4).truth == truth); // from the written file

  // A given truth file with more ids per query: the first k are used.
  write_ivecs(dir.path() + "/gt.ivecs", 10, exact_neighbours(d, 10));
  CHECK(load_files(base, query, dir.path() + "/gt.ivecs", 4).truth == truth);

  write_fvecs(dir.path() + "/q3.fvecs", 3, std::vector<float>(9, 0.0f));
  CHECK_THROWS_WITH(load_files(base, dir.path() + "/q3.fvecs", "", 4), Catch::Contains("q3.fvecs"));
  CHECK_THROWS_WITH(load_files(base, query, dir.path() + "/none.ivecs", 4),
                    Catch::Contains("none.ivecs"));
}

TEST_CASE("recall_at_k", "[bench]") {
  std::vector<uint32_t> truth{1, 2, 3, 4};
  CHECK(recall_at_k({1, 2, 3, 4}, truth, 4) == 1.0);
  CHECK(recall_at_k({4, 3, 2, 1}, truth, 4) == 1.0);
  CHECK(recall_at_k({1, 9, 3, 8}, truth, 4) == 0.5);
  CHECK(recall_at_k({}, truth, 4) == 0.0);
  CHECK(recall_at_k({1, 1, 1, 1}, truth, 4) == 0.25);
  CHECK(recall_at_k({1, 2}, truth, 2) == 1.0);
  CHECK(recall_at_k({9, 8, 1}, truth, 2) == 0.0); // only the first k found count
  CHECK(recall_at_k({1, 2, 3, 4, 5}, truth, 3) == 1.0);
  CHECK(recall_at_k({5}, std::span<const uint32_t>{}, 1) == 1.0);
}
