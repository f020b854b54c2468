// An environment variable a test script exports (a server's port, a URL):
// fails the test, naming the script to run, when it is not set.
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

namespace lifeline::testing {

inline std::string required_env(const char* name, const char* script) {
  const char* v = std::getenv(name);
  INFO(name << " is not set: run " << script);
  REQUIRE(v != nullptr);
  return v;
}

} // namespace lifeline::testing
