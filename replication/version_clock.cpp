#include "replication/version_clock.hpp"

#include "io/atomic_file.hpp"
#include "io/files.hpp"

#include <cstdio>
#include <filesystem>

namespace lifeline {

uint64_t version_clock::system_micros() {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
}

version_clock::version_clock(wall_clock now) : now_(std::move(now)) {}

expected<version_clock> version_clock::open(const std::string& path, wall_clock now,
                                            std::chrono::seconds lease) {
  version_clock clock{std::move(now)};
  clock.path_ = path;
  clock.lease_us_ = uint64_t(lease.count()) * 1'000'000;
  if (std::filesystem::exists(path)) {
    auto text = io::read_file(path);
    if (!text) return text.error();
    try {
      clock.last_ = std::stoull(*text);
    } catch (...) {
      return backend_error{error_kind::corrupt, path + " does not hold a version"};
    }
    clock.ceiling_ = clock.last_;
  }
  return clock;
}

expected<uint64_t> version_clock::next() {
  auto v = std::max(last_ + 1, now_());
  if (!path_.empty() && v > ceiling_) {
    auto ceiling = v + lease_us_;
    if (auto ok = io::write_file_atomic(path_, std::to_string(ceiling)); !ok) return ok.error();
    ceiling_ = ceiling;
  }
  last_ = v;
  return v;
}

} // namespace lifeline
