// The actor owning one backend's handoff log: appends (each synced), pages
// for replay, the size limit, the free-disk watermark, and what happens to
// a log that cannot be opened. The log is loaded when the actor starts (on
// its own thread); the coordinator waits for its status without giving up
// (see attach_hints), so a large log delays only this backend's recovery.
#include "actors/handoff.hpp"

#include "core/log.hpp"
#include "io/files.hpp"
#include "metrics/metrics.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sys/statvfs.h>

namespace lifeline {

namespace {

struct handoff_state {
  std::string directory;
  handoff_options options;
  std::unique_ptr<handoff_log> log;
  std::string open_error; ///< Set if not even a fresh log could be opened.
  std::string lost;       ///< Why the log found at open was set aside.
  uint64_t appended_total = 0;
  bool disk_low = false;
  /// End offsets of the pages handed out since the log was last dropped:
  /// only those may be consumed (a page read before a drop must not move
  /// the cursor of the emptied log, possibly into the middle of a record).
  std::set<uint64_t> pages;
  static inline const char* name = "lifeline.handoff";
};

using handoff_pointer = handoff_actor::stateful_pointer<handoff_state>;

/// Renames the log's files (segments and cursor; not the replica marker,
/// which the coordinator clears through the durable_state actor) to
/// <name>.<stamp>.damaged, for the operator. Returns what was renamed.
std::string set_aside(const std::string& directory) {
  auto stamp = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  std::string moved;
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator{directory, ec}) {
    auto name = entry.path().filename().string();
    bool log_file = name == "cursor"
                    || (name.rfind("hints-", 0) == 0 && name.size() > 4
                        && name.compare(name.size() - 4, 4, ".log") == 0);
    if (!log_file) continue;
    auto aside = name + "." + stamp + ".damaged";
    std::error_code rename_ec;
    std::filesystem::rename(entry.path(), directory + "/" + aside, rename_ec);
    if (!rename_ec) moved += (moved.empty() ? "" : ", ") + aside;
  }
  return moved;
}

void check_disk(handoff_state& st) {
  struct statvfs fs {};
  if (::statvfs(st.directory.c_str(), &fs) != 0) return;
  uint64_t free_bytes = uint64_t(fs.f_bavail) * uint64_t(fs.f_frsize);
  auto warn = st.options.disk_free_warn_bytes;
  bool low = warn > 0 && free_bytes < warn;
  if (st.options.metrics) st.options.metrics->handoff_disk(st.options.backend, free_bytes, low);
  if (low == st.disk_low) return;
  st.disk_low = low;
  if (low)
    log().warn("backend {}: the disk of its handoff log {} has {} MiB free, below "
               "disk_free_warn_mb ({} MiB); hints past handoff_limit_mb are dropped (the backend "
               "is then rebuilt), but a full disk refuses every write it must keep",
               st.options.backend, st.directory, free_bytes >> 20, warn >> 20);
  else
    log().info("backend {}: the disk of its handoff log has {} MiB free again",
               st.options.backend, free_bytes >> 20);
}

handoff_log_options log_options(const handoff_state& st) {
  handoff_log_options lo;
  lo.segment_bytes = st.options.segment_bytes;
  return lo;
}

/// Sets the unusable log aside (for a post-mortem): the hints in it are
/// lost. The next status tells the coordinator, which clears the replica
/// marker, so the backend is rebuilt from a peer instead.
void lose_log(handoff_state& st, const std::string& why) {
  st.log.reset();
  st.pages.clear();
  auto moved = set_aside(st.directory);
  auto lost = why + "; set aside in " + st.directory + " as "
              + (moved.empty() ? std::string{"(nothing could be renamed)"} : moved);
  st.lost += (st.lost.empty() ? "" : "; ") + lost;
}

void open_log(handoff_state& st) {
  if (st.options.before_load) st.options.before_load();
  auto opened = handoff_log::open(st.directory, log_options(st));
  if (!opened) {
    lose_log(st, opened.error().message);
    opened = handoff_log::open(st.directory, log_options(st));
    if (!opened) {
      st.open_error = opened.error().message;
      return;
    }
  }
  st.log = std::move(*opened);
  check_disk(st);
}

caf::error not_open(const handoff_state& st) {
  return caf::error{errc::backend_error, "handoff log " + st.directory + ": " + st.open_error};
}

caf::error io_failure(const backend_error& e) {
  return caf::error{errc::backend_error, e.message};
}

} // namespace

handoff_actor::behavior_type handoff(handoff_pointer self, std::string directory,
                                     handoff_options options) {
  auto& st = self->state;
  st.directory = std::move(directory);
  st.options = std::move(options);
  open_log(st);
  return {
    [self](status_atom) -> caf::result<handoff_status> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      // A loss is reported once: the coordinator acts on it.
      auto lost = std::move(st.lost);
      st.lost.clear();
      return handoff_status{st.log->pending(), std::move(lost)};
    },
    [self](append_atom, const std::vector<handoff_entry>& entries)
      -> caf::result<uint64_t, uint64_t, uint64_t> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      if (auto ok = st.log->append(entries); !ok) return io_failure(ok.error());
      st.appended_total += entries.size();
      check_disk(st);
      uint64_t dropped = 0;
      if (st.options.limit_bytes > 0 && st.log->size_bytes() > st.options.limit_bytes) {
        // Over its limit: the backend gets everything from a peer instead.
        // A replay still running may have read a page of the old log: it
        // cannot consume it (pages), and its job is outdated by the rebuild
        // the coordinator now asks for.
        auto all = st.log->drop_all();
        st.pages.clear();
        if (!all) return io_failure(all.error());
        dropped = *all;
      }
      return {st.appended_total, st.log->pending(), dropped};
    },
    [self](peek_atom, uint32_t max_entries) -> caf::result<handoff_page> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      auto batch = st.log->peek(max_entries, size_t{8} << 20);
      if (!batch && batch.error().kind == errc::corrupt_response) {
        // Damaged since it was opened (it was intact then): the same as
        // damage found at open. A fresh log takes the appends from now on.
        lose_log(st, batch.error().message);
        auto fresh = handoff_log::open(st.directory, log_options(st));
        if (!fresh) st.open_error = fresh.error().message;
        else st.log = std::move(*fresh);
        return caf::error{errc::corrupt_response, "handoff log " + st.directory
                                                    + " is damaged: " + batch.error().message};
      }
      if (!batch) return io_failure(batch.error());
      st.pages.insert(batch->end_offset);
      return handoff_page{std::move(*batch), st.appended_total};
    },
    [self](consume_atom, uint64_t end_offset, uint64_t entries) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      auto page = st.pages.find(end_offset);
      if (page == st.pages.end()) return st.log->pending(); // read before a drop: stale
      st.pages.erase(st.pages.begin(), std::next(page));
      auto first = st.log->first_segment();
      if (auto ok = st.log->consume(end_offset, entries); !ok) return io_failure(ok.error());
      if (st.log->first_segment() != first) st.pages.clear(); // offsets of another file
      return st.log->pending();
    },
  };
}

handoff_actor spawn_handoff(caf::actor_system& sys, std::string directory, bool detached,
                            handoff_options options) {
  if (detached) return sys.spawn<caf::detached>(handoff, std::move(directory), std::move(options));
  return sys.spawn(handoff, std::move(directory), std::move(options));
}

} // namespace lifeline
