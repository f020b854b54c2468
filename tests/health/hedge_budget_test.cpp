#include "health/hedge_budget.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace lifeline;

TEST_CASE("hedge budget starts empty and earns a fraction per read", "[hedge]") {
  hedge_budget b{5, 50};
  CHECK_FALSE(b.try_hedge());
  for (int i = 0; i < 19; ++i) b.on_read();
  CHECK_FALSE(b.try_hedge()); // 0.95 of a token
  b.on_read();
  CHECK(b.try_hedge());
  CHECK_FALSE(b.try_hedge());
}

TEST_CASE("hedge budget: about percent of reads are hedged", "[hedge]") {
  hedge_budget b{5, 50};
  int hedges = 0;
  for (int i = 0; i < 10000; ++i) {
    b.on_read();
    if (b.try_hedge()) ++hedges;
  }
  CHECK(hedges == 500);
}

TEST_CASE("hedge budget: a quiet period saves at most the burst", "[hedge]") {
  hedge_budget b{10, 3};
  for (int i = 0; i < 1000; ++i) b.on_read(); // would be 100 tokens
  CHECK(b.tokens() == 3);
  CHECK(b.try_hedge());
  CHECK(b.try_hedge());
  CHECK(b.try_hedge());
  CHECK_FALSE(b.try_hedge());
}

TEST_CASE("hedge budget of 0 percent never hedges", "[hedge]") {
  hedge_budget b{0, 10};
  for (int i = 0; i < 1000; ++i) b.on_read();
  CHECK_FALSE(b.try_hedge());
}

TEST_CASE("hedge budget shared by threads spends no token twice", "[hedge]") {
  hedge_budget b{100, 1000000};
  constexpr int threads = 4, reads = 20000;
  std::atomic<int> hedges{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < reads; ++i) {
        b.on_read();
        if (b.try_hedge()) hedges.fetch_add(1);
        if (b.try_hedge()) hedges.fetch_add(1);
      }
    });
  for (auto& t : ts) t.join();
  // Every read earned one token, none was spent twice, none was lost.
  CHECK(hedges.load() + static_cast<int>(b.tokens()) == threads * reads);
}
