// lifeline-bench-reply: the cost of building a GET reply (api::document_reply)
// with the vector cache off and on, in the same run, as a ratio. The HTTP
// profile puts encoding a 128-d vector at ~2% of the server's CPU per get;
// this shows what a hit saves without the noise of the whole stack.
//   build/bin/lifeline-bench-reply [docs] [dimension] [seconds]
#include "api/http_api.hpp"
#include "api/vector_json_cache.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

using namespace lifeline;
using clock_type = std::chrono::steady_clock;

namespace {

/// Replies built per second over `seconds`, ids drawn uniformly.
double replies_per_second(const std::vector<document>& docs, double seconds) {
  std::mt19937 rng{7};
  std::uniform_int_distribution<size_t> pick{0, docs.size() - 1};
  size_t n = 0, bytes = 0;
  auto start = clock_type::now();
  auto until = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
  while (clock_type::now() < until) {
    for (int i = 0; i < 256; ++i) bytes += api::document_reply("bench", docs[pick(rng)], "postgres").body.size();
    n += 256;
  }
  auto took = std::chrono::duration<double>(clock_type::now() - start).count();
  if (bytes == 0) std::abort();
  return double(n) / took;
}

} // namespace

int main(int argc, char** argv) {
  size_t count = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
  size_t dimension = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 128;
  double seconds = argc > 3 ? std::strtod(argv[3], nullptr) : 2;
  std::mt19937 rng{42};
  std::normal_distribution<float> value;
  std::vector<document> docs(count);
  for (size_t i = 0; i < count; ++i) {
    docs[i].id = "d" + std::to_string(i);
    docs[i].vector.resize(dimension);
    for (auto& x : docs[i].vector) x = value(rng);
    docs[i].version = i + 1;
  }
  auto& cache = api::shared_vector_cache();
  cache.set_max_bytes(0);
  auto off = replies_per_second(docs, seconds);
  cache.set_max_bytes(size_t{256} << 20);
  for (auto& d : docs) api::document_reply("bench", d, "postgres"); // warm
  auto on = replies_per_second(docs, seconds);
  std::printf("GET replies of %zu docs, dimension %zu (one thread):\n", count, dimension);
  std::printf("  vector cache off  %10.0f/s  %6.2f us each  ratio 1.00\n", off, 1e6 / off);
  std::printf("  vector cache on   %10.0f/s  %6.2f us each  ratio %.2f  (hit rate %.3f, %zu entries, %.1f MiB)\n", on,
              1e6 / on, on / off, double(cache.hits()) / double(cache.hits() + cache.misses()), cache.entries(),
              double(cache.bytes()) / (1 << 20));
}
