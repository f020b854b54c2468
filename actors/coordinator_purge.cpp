// Tombstone purges: on a timer, each backend that holds the data and has
// no hint or replay outstanding drops its tombstones below a version no
// write in flight or still queued can reach (the reasoning is atop
// on_purge). Split from coordinator_recovery.cpp: purges share only the
// write-in-flight floor with recovery (floor_version), and their safety
// argument is long enough to deserve a file of its own.
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

namespace lifeline::detail {

namespace {

/// Tombstones up to this version may go: below every write in flight, and
/// older (versions are wall-clock microseconds) than the grace period, so a
/// write that timed out but still sits in a backend's queue cannot land
/// after its tombstone is gone.
uint64_t purge_limit(coordinator_pointer self) {
  auto grace = uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                          self->state.cfg.purge_grace)
                          .count());
  auto now = system_micros();
  return std::min(floor_version(self), now > grace ? now - grace : 0);
}

} // namespace

// -- tombstones ---------------------------------------------------------------------

void schedule_purge(coordinator_pointer self) {
  auto interval = self->state.cfg.purge_interval;
  if (interval > duration::zero()) self->delayed_send(self, interval, purge_atom::value);
}

// Purges are decided per backend. A tombstone on backend A exists to stop
// an older write of the same id from bringing the document back on A. Such
// a write can reach A only
//   (a) as a write in flight: every one has a version above floor_version,
//       and purge_limit stays below it;
//   (b) as a write that timed out but still sits in A's queue: it is older
//       than the grace period, and purge_limit stays that far behind;
//   (c) from A's own handoff log: A has nothing pending and no append in
//       flight (a hint stored later is a write in flight until then: (a));
//   (d) from a rebuild or repair copying into A: A is in sync, so no rebuild
//       of A runs; a repair copies the newer version, and a document newer
//       than the purged tombstone is a write that should win anyway.
//       Repair may copy an older live version into A only if another
//       backend lacks the delete and holds no hint of it: then the delete
//       was never acknowledged (an acknowledged write is on every backend
//       or in its hints), and a delete that was not acknowledged may end
//       applied or not, as long as the backends agree, which they then do.
//       (So purges do not wait for a repair round: they would then wait
//       for as long as a backend stays down, which is what bounds them.)
// None of these involves another backend B being down: B keeps its own
// tombstones (it purges nothing while it does not hold the data), and gets
// A's deletes through its handoff log (which replays them as deletes that
// leave tombstones on B) or through a rebuild from a peer (which copies
// the peer's documents and deletes whatever the peer does not hold, so a
// purged tombstone on the peer is simply an absent document). So A may
// purge while B is down. Ids that never existed are no different: the
// delete leaves a tombstone (to order a late upsert), and it is purged the
// same way.
void on_purge(coordinator_pointer self) {
  auto& st = self->state;
  schedule_purge(self);
  auto up_to = purge_limit(self);
  if (up_to == 0) return;
  for (auto& s : st.slots) {
    if (!s.holds_data() || s.replica.pending > 0 || s.replica.appends_in_flight > 0
        || s.replica.job_running)
      continue;
    self->request(s.routing.handle(), st.cfg.recovery_call_timeout, purge_atom::value, up_to)
      .then(
        [name = s.name, up_to](uint64_t purged) {
          if (purged > 0)
            log().debug("backend {}: purged {} tombstones up to version {}", name, purged, up_to);
        },
        [name = s.name](caf::error& err) {
          log().warn("backend {}: purging tombstones failed: {}", name, describe(err));
        });
  }
}

} // namespace lifeline::detail
