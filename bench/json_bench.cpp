// Parsing a search request with a 768-float vector: nlohmann-json next to
// simdjson (on-demand), both from Debian, in the same run. The HTTP API
// parses with the faster one.
//   build/bin/lifeline-bench-json [--iterations N]
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using clock_type = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int iterations = 20000;
  if (argc == 3 && !std::strcmp(argv[1], "--iterations")) iterations = std::atoi(argv[2]);
  std::mt19937 rng{1};
  std::normal_distribution<float> gauss;
  std::string body = R"({"vector":[)";
  for (int i = 0; i < 768; ++i) body += (i ? "," : "") + std::to_string(gauss(rng));
  body += R"(],"k":10,"ef":64})";

  std::vector<float> v;
  v.reserve(768);
  double sink = 0;
  auto t0 = clock_type::now();
  for (int i = 0; i < iterations; ++i) {
    auto j = nlohmann::json::parse(body);
    v.clear();
    for (auto& x : j["vector"]) v.push_back(x.get<float>());
    sink += v[0] + j["k"].get<int>();
  }
  double nlohmann_us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() / iterations;

  simdjson::ondemand::parser parser;
  simdjson::padded_string padded{body};
  auto t1 = clock_type::now();
  for (int i = 0; i < iterations; ++i) {
    auto doc = parser.iterate(padded);
    v.clear();
    for (double x : doc["vector"].get_array()) v.push_back(float(x));
    sink += v[0] + double(int64_t(doc["k"]));
  }
  double simdjson_us = std::chrono::duration<double, std::micro>(clock_type::now() - t1).count() / iterations;

  std::printf("search request with a 768-float vector (%zu bytes), %d parses each\n", body.size(), iterations);
  std::printf("%-28s %10s %8s\n", "parser", "us/parse", "ratio");
  std::printf("%-28s %10.2f %8.2f\n", "nlohmann-json (baseline)", nlohmann_us, 1.0);
  std::printf("%-28s %10.2f %8.2f\n", "simdjson on-demand", simdjson_us, nlohmann_us / simdjson_us);
  return sink == 12345.678 ? 1 : 0;
}
