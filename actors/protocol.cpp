// Out-of-line helpers for the message types declared in actors.hpp.
#include "actors/actors.hpp"

namespace lifeline {

size_t health_report::serving() const {
  size_t n = 0;
  for (auto& b : backends) n += b.serving ? 1 : 0;
  return n;
}

size_t write_receipt::applied() const {
  size_t n = 0;
  for (auto& b : backends) n += b.outcome == write_outcome::applied ? 1 : 0;
  return n;
}

bool consistency_report::consistent() const {
  if (!error.empty()) return false;
  for (auto& c : collections)
    if (!c.consistent()) return false;
  return true;
}

uint64_t consistency_report::differences() const {
  uint64_t n = 0;
  for (auto& c : collections) n += c.missing + c.mismatched;
  return n;
}

uint64_t consistency_report::repaired() const {
  uint64_t n = 0;
  for (auto& c : collections) n += c.repaired;
  return n;
}

std::string_view to_string(write_outcome o) {
  switch (o) {
    case write_outcome::applied: return "applied";
    case write_outcome::failed: return "failed";
    case write_outcome::skipped: return "skipped";
    case write_outcome::deferred: return "deferred";
  }
  return "unknown";
}

} // namespace lifeline
