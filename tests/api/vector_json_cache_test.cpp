// The cache of encoded vectors behind GET replies: its text is exactly what
// encoding gives (floats round-trip), a new version or different floats are
// never served from an old entry, the byte bound holds, and concurrent
// readers and writers of the same ids get correct text.
#include "api/json_writer.hpp"
#include "api/vector_json_cache.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

using namespace lifeline;
using namespace lifeline::api;

namespace {

document doc(std::string id, std::vector<float> v, uint64_t version) {
  return document{std::move(id), std::move(v), "", "", version};
}

/// What the cache writes for `d` as the value of "v" in an object.
std::string written(vector_json_cache& cache, const std::string& collection, const document& d) {
  json_writer w;
  w.begin_object().key("v");
  cache.write(w, collection, d);
  w.end_object();
  return w.take();
}

std::string expected(const document& d) {
  json_writer w;
  w.begin_object().key("v").floats(d.vector).end_object();
  return w.take();
}

std::vector<float> parse_floats(const std::string& array) {
  std::vector<float> out;
  const char* p = array.c_str() + 1; // after '['
  while (*p && *p != ']') {
    char* end = nullptr;
    out.push_back(std::strtof(p, &end));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

} // namespace

TEST_CASE("vector cache: a hit writes the same text as encoding, and the floats round-trip", "[api][vector_cache]") {
  vector_json_cache cache{1 << 20};
  auto d = doc("a", {0.1f, -3.4028235e38f, 1e-45f, 0.0f, -0.0f, 123456.789f, 1.0f / 3.0f}, 7);
  auto first = written(cache, "c", d);
  auto second = written(cache, "c", d);
  CHECK(first == expected(d));
  CHECK(second == first);
  CHECK(cache.hits() == 1);
  CHECK(cache.misses() == 1);
  auto text = encode_vector(d.vector);
  auto back = parse_floats(text);
  REQUIRE(back.size() == d.vector.size());
  for (size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i] == d.vector[i]);
    CHECK(std::signbit(back[i]) == std::signbit(d.vector[i]));
  }
}

TEST_CASE("vector cache: a new version is never served from the old entry", "[api][vector_cache]") {
  vector_json_cache cache{1 << 20};
  auto v1 = doc("a", {1.0f, 2.0f}, 1);
  auto v2 = doc("a", {3.0f, 4.0f}, 2);
  CHECK(written(cache, "c", v1) == expected(v1));
  CHECK(written(cache, "c", v2) == expected(v2));
  CHECK(written(cache, "c", v2) == expected(v2));
  CHECK(cache.entries() == 1); // the new version replaced the old entry
  // An older version read again (another backend still behind) is
  // encoded afresh, never answered with the newer text.
  CHECK(written(cache, "c", v1) == expected(v1));
}

TEST_CASE("vector cache: the same version with other floats is encoded afresh", "[api][vector_cache]") {
  // E.g. unversioned documents (version 0), or two backends that hold one
  // version differently (a cosine copy normalised by one of them).
  vector_json_cache cache{1 << 20};
  auto a = doc("a", {1.0f, 0.0f}, 0);
  auto b = doc("a", {0.5f, 0.5f}, 0);
  auto longer = doc("a", {0.5f, 0.5f, 0.5f}, 0);
  CHECK(written(cache, "c", a) == expected(a));
  CHECK(written(cache, "c", b) == expected(b));
  CHECK(written(cache, "c", longer) == expected(longer));
  CHECK(written(cache, "c", a) == expected(a));
  CHECK(cache.hits() == 0);
}

TEST_CASE("vector cache: one id in two collections has two entries", "[api][vector_cache]") {
  vector_json_cache cache{1 << 20};
  auto x = doc("a", {1.0f}, 5);
  auto y = doc("a", {2.0f}, 5);
  CHECK(written(cache, "one", x) == expected(x));
  CHECK(written(cache, "two", y) == expected(y));
  CHECK(written(cache, "one", x) == expected(x));
  CHECK(written(cache, "two", y) == expected(y));
  CHECK(cache.entries() == 2);
  CHECK(cache.hits() == 2);
}

TEST_CASE("vector cache: the byte bound holds, and a smaller bound evicts at once", "[api][vector_cache]") {
  size_t bound = 64 * 1024;
  vector_json_cache cache{bound, 4};
  std::vector<float> v(128);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i) * 0.37f;
  for (int i = 0; i < 500; ++i) {
    v[0] = float(i);
    auto d = doc("id" + std::to_string(i), v, uint64_t(i + 1));
    CHECK(written(cache, "c", d) == expected(d));
    REQUIRE(cache.bytes() <= bound);
  }
  CHECK(cache.entries() > 0);
  CHECK(cache.entries() < 500); // the bound evicted
  cache.set_max_bytes(8 * 1024);
  CHECK(cache.bytes() <= 8 * 1024);
  cache.set_max_bytes(0); // off: writes still correct, nothing kept
  auto d = doc("z", v, 9);
  CHECK(written(cache, "c", d) == expected(d));
  CHECK(cache.entries() == 0);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("vector cache: an entry larger than a shard's bound is not kept", "[api][vector_cache]") {
  vector_json_cache cache{4096, 1};
  auto big = doc("big", std::vector<float>(2000, 1.25f), 1);
  CHECK(written(cache, "c", big) == expected(big));
  CHECK(cache.entries() == 0);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("vector cache: concurrent readers and writers of the same ids get exact text", "[api][vector_cache]") {
  // Small bound and few shards: entries are evicted, replaced and hit while
  // other threads do the same; every reply must match its own document.
  vector_json_cache cache{32 * 1024, 2};
  constexpr int threads = 4, rounds = 3000, ids = 40;
  std::vector<std::thread> ts;
  std::vector<int> wrong(threads, 0);
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int r = 0; r < rounds; ++r) {
        int id = (r * 7 + t) % ids;
        uint64_t version = uint64_t(1 + (r / 50 + t) % 3); // versions flip back and forth
        std::vector<float> v(32);
        for (size_t i = 0; i < v.size(); ++i) v[i] = float(id) + float(version) / 8.0f + float(i) / 1024.0f;
        auto d = doc("id" + std::to_string(id), std::move(v), version);
        if (written(cache, "c", d) != expected(d)) ++wrong[t];
      }
    });
  for (auto& th : ts) th.join();
  for (int t = 0; t < threads; ++t) CHECK(wrong[t] == 0);
  CHECK(cache.bytes() <= 32 * 1024);
  CHECK(cache.hits() + cache.misses() == uint64_t(threads) * rounds);
  CHECK(cache.hits() > 0);
}

TEST_CASE("vector cache: write_vector writes the array value in place", "[api][vector_cache]") {
  auto d = doc("w", {1.5f, -2.25f}, 3);
  json_writer w;
  w.begin_object().key("id").value("w").key("vector");
  write_vector(w, "coll", d);
  w.key("version").number(3).end_object();
  CHECK(w.take() == R"({"id":"w","vector":[1.5,-2.25],"version":3})");
}
