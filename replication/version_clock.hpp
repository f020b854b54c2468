// Hands out write versions: strictly increasing, and (with a file) never
// again at or below one handed out before a restart. A version is the wall
// clock in microseconds, or last + 1 if that is not larger; so versions stay
// close to real time, and a clock set back cannot make them go backwards.
//
// The file holds a ceiling: no version above it has been handed out. Raising
// it costs one synced write per `lease` of wall time, not one per write.
// No CAF in here.
#pragma once

#include "core/expected.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace lifeline {

class version_clock {
public:
  using wall_clock = std::function<uint64_t()>; ///< Microseconds since the epoch.

  /// Memory only: versions restart from the wall clock with the process.
  explicit version_clock(wall_clock now = system_micros);
  /// Durable: reads the ceiling in `path` (if any) and starts above it.
  static expected<version_clock> open(const std::string& path, wall_clock now = system_micros,
                                      std::chrono::seconds lease = std::chrono::seconds(60));

  /// The next version; an error only if the ceiling cannot be stored.
  expected<uint64_t> next();
  /// The last version handed out (0 before the first).
  uint64_t last() const { return last_; }

  static uint64_t system_micros();

private:
  wall_clock now_;
  std::string path_;
  uint64_t lease_us_ = 0;
  uint64_t last_ = 0;
  uint64_t ceiling_ = 0;
};

} // namespace lifeline
