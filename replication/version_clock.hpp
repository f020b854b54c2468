// Hands out write versions: strictly increasing, and (with a stored ceiling)
// never again at or below one handed out before a restart. A version is the
// wall clock in microseconds, or last + 1 if that is not larger; so versions
// stay close to real time, and a clock set back cannot make them go
// backwards.
//
// A ceiling bounds what may be handed out: no version above the stored
// ceiling is ever given out. `version_lease` is the pure part (no I/O): it
// says when to store the next ceiling and refuses versions above the one
// stored, so its owner can keep the fsync off its own thread. The ceiling
// file functions do the I/O (the durable-state actor calls them on its own
// thread). No CAF in here.
#pragma once

#include "core/expected.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>

namespace lifeline {

/// Microseconds since the epoch.
using wall_clock = std::function<uint64_t()>;

uint64_t system_micros();

/// Reads a stored ceiling; a missing file reads as 0.
expected<uint64_t> read_version_ceiling(const std::string& path);
/// Stores `ceiling` durably (temporary file, fsync, rename, directory sync).
expected<void> store_version_ceiling(const std::string& path, uint64_t ceiling);

/// Versions below a ceiling that someone else stores. Raising the ceiling
/// costs one synced write per `lease` of wall time, not one per write; the
/// owner asks for the next one when less than half a lease is left.
class version_lease {
public:
  static constexpr uint64_t unbounded = std::numeric_limits<uint64_t>::max();

  /// `ceiling` = unbounded: memory only (versions restart with the process).
  explicit version_lease(wall_clock now = system_micros,
                         std::chrono::microseconds lease = std::chrono::seconds(60),
                         uint64_t ceiling = unbounded);

  /// After reading the stored ceiling: every version goes above it, and
  /// none is handed out until a higher one is stored.
  void start_above(uint64_t stored);
  /// The next version, or nothing if it would pass the stored ceiling.
  std::optional<uint64_t> next();
  /// Less than half a lease left: time to store the next ceiling.
  bool wants_ceiling() const;
  /// The ceiling to store next: a lease above the next version.
  uint64_t ceiling_to_store() const;
  /// A ceiling is on disk now (a lower one than held changes nothing).
  void ceiling_stored(uint64_t ceiling);

  uint64_t last() const { return last_; } ///< Last version handed out (0: none).
  uint64_t ceiling() const { return ceiling_; }
  const wall_clock& clock() const { return now_; }

private:
  uint64_t candidate() const;

  wall_clock now_;
  uint64_t lease_us_;
  uint64_t last_ = 0;
  uint64_t ceiling_;
};

} // namespace lifeline
