// What the etcd tests share: the private etcd tests/scripts/etcd_tests.sh
// starts, and a key prefix no other test (or run) uses.
#pragma once

#include "support/required_env.hpp"

#include <unistd.h>

#include <atomic>
#include <string>

namespace lifeline::testing {

inline std::string etcd_url() {
  return required_env("LIFELINE_ETCD_URL", "tests/scripts/etcd_tests.sh");
}

inline std::string unique_prefix(const std::string& what = "k") {
  static std::atomic<int> n{0};
  return "/lifeline-test/" + std::to_string(::getpid()) + "/" + what + "-" + std::to_string(++n);
}

} // namespace lifeline::testing
