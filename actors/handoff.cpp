#include "actors/handoff.hpp"

#include "core/log.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

namespace lifeline {

namespace {

struct handoff_state {
  std::string directory;
  std::unique_ptr<handoff_log> log;
  std::string open_error; ///< Set if not even a fresh log could be opened.
  uint64_t appended_total = 0;
  static inline const char* name = "lifeline.handoff";
};

using handoff_pointer = handoff_actor::stateful_pointer<handoff_state>;

void open_log(handoff_state& st) {
  auto opened = handoff_log::open(st.directory);
  if (!opened) {
    // Set the damaged log aside (for a post-mortem) and start afresh. The
    // replica marker in the directory goes aside with it: with no marker,
    // the backend is rebuilt from a peer instead of replayed.
    auto stamp = std::chrono::system_clock::now().time_since_epoch().count();
    auto aside = st.directory + ".damaged-" + std::to_string(stamp);
    std::error_code ec;
    std::filesystem::rename(st.directory, aside, ec);
    log().error("handoff log {} could not be opened ({}); set aside as {}, the backend will be "
                "rebuilt", st.directory, opened.error().message, aside);
    opened = handoff_log::open(st.directory);
    if (!opened) {
      st.open_error = opened.error().message;
      return;
    }
  }
  st.log = std::move(*opened);
}

caf::error not_open(const handoff_state& st) {
  return caf::error{errc::backend_error, "handoff log " + st.directory + ": " + st.open_error};
}

caf::error io_failure(const backend_error& e) {
  return caf::error{errc::backend_error, e.message};
}

} // namespace

handoff_actor::behavior_type handoff(handoff_pointer self, std::string directory) {
  auto& st = self->state;
  st.directory = std::move(directory);
  open_log(st);
  return {
    [self](status_atom) -> caf::result<handoff_status> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      return handoff_status{st.log->pending()};
    },
    [self](append_atom,
           const std::vector<handoff_entry>& entries) -> caf::result<uint64_t, uint64_t> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      if (auto ok = st.log->append(entries); !ok) return io_failure(ok.error());
      st.appended_total += entries.size();
      return {st.appended_total, st.log->pending()};
    },
    [self](peek_atom, uint32_t max_entries) -> caf::result<handoff_page> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      auto batch = st.log->peek(max_entries, size_t{8} << 20);
      if (!batch) return io_failure(batch.error());
      return handoff_page{std::move(*batch), st.appended_total};
    },
    [self](consume_atom, uint64_t end_offset, uint64_t entries) -> caf::result<uint64_t> {
      auto& st = self->state;
      if (!st.log) return not_open(st);
      if (auto ok = st.log->consume(end_offset, entries); !ok) return io_failure(ok.error());
      return st.log->pending();
    },
  };
}

handoff_actor spawn_handoff(caf::actor_system& sys, std::string directory, bool detached) {
  if (detached) return sys.spawn<caf::detached>(handoff, std::move(directory));
  return sys.spawn(handoff, std::move(directory));
}

} // namespace lifeline
