#include "actors/busy_calls.hpp"

#include <mutex>

namespace lifeline {

namespace {

std::mutex& busy_mutex() {
  static std::mutex m;
  return m;
}

// Never destroyed: a worker thread still in a call when the process exits
// (the hard stop) must not find it gone.
std::map<std::string, unsigned>& busy_map() {
  static auto* m = new std::map<std::string, unsigned>;
  return *m;
}

} // namespace

busy_call::busy_call(std::string kind) : kind_(std::move(kind)) {
  std::lock_guard lock{busy_mutex()};
  ++busy_map()[kind_];
}

busy_call::~busy_call() {
  std::lock_guard lock{busy_mutex()};
  auto& m = busy_map();
  if (auto it = m.find(kind_); it != m.end() && --it->second == 0) m.erase(it);
}

std::map<std::string, unsigned> busy_calls() {
  std::lock_guard lock{busy_mutex()};
  return busy_map();
}

std::string describe_busy_calls() {
  std::string out;
  for (auto& [kind, n] : busy_calls())
    out += (out.empty() ? "" : ", ") + kind + ": " + std::to_string(n) + (n == 1 ? " call" : " calls");
  return out.empty() ? "none" : out;
}

} // namespace lifeline
