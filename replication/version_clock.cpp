#include "replication/version_clock.hpp"

#include "io/atomic_file.hpp"
#include "io/files.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace lifeline {

uint64_t system_micros() {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
}

expected<uint64_t> read_version_ceiling(const std::string& path) {
  if (!std::filesystem::exists(path)) return uint64_t{0};
  auto text = io::read_file(path);
  if (!text) return text.error();
  try {
    return uint64_t{std::stoull(*text)};
  } catch (...) {
    return backend_error{errc::corrupt_response, path + " does not hold a version"};
  }
}

expected<void> store_version_ceiling(const std::string& path, uint64_t ceiling) {
  return io::write_file_atomic(path, std::to_string(ceiling));
}

// -- version_lease -------------------------------------------------------------------

version_lease::version_lease(wall_clock now, std::chrono::microseconds lease, uint64_t ceiling)
  : now_(std::move(now)), lease_us_(uint64_t(lease.count())), ceiling_(ceiling) {}

void version_lease::start_above(uint64_t stored) {
  last_ = std::max(last_, stored);
  ceiling_ = last_;
}

uint64_t version_lease::candidate() const { return std::max(last_ + 1, now_()); }

std::optional<uint64_t> version_lease::next() {
  auto v = candidate();
  if (v > ceiling_) return std::nullopt;
  last_ = v;
  return v;
}

bool version_lease::wants_ceiling() const {
  if (ceiling_ == unbounded) return false;
  auto v = candidate();
  return v > ceiling_ || ceiling_ - v < lease_us_ / 2;
}

uint64_t version_lease::ceiling_to_store() const { return candidate() + lease_us_; }

void version_lease::ceiling_stored(uint64_t ceiling) { ceiling_ = std::max(ceiling_, ceiling); }

} // namespace lifeline
