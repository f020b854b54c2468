#include "backends/hnsw/write_ahead_log.hpp"

namespace lifeline::hnsw {

namespace {

/// Larger records are refused (and a length field above this is damage).
constexpr uint32_t max_record_bytes = 256u << 20;

} // namespace

expected<std::unique_ptr<write_ahead_log>>
write_ahead_log::open(const std::string& path, log_config cfg, const replay_fn& replay,
                      const warn_fn& warn, io::log_scan* found) {
  io::record_log_options options;
  options.mode = cfg.mode;
  options.interval = cfg.interval;
  options.on_failure = io::failure_policy::poison;
  options.max_record_bytes = max_record_bytes;
  options.label = "log " + path;
  io::log_scan scan;
  auto log = io::record_log::open(
    path, options, 0,
    [&](uint64_t offset, std::string_view payload) -> expected<void> {
      if (auto ok = replay(payload); !ok)
        return backend_error{errc::corrupt_response, "log " + path + " at byte "
                                                    + std::to_string(offset) + ": "
                                                    + ok.error().message};
      return {};
    },
    &scan);
  if (found) *found = scan;
  if (!log) return log.error();
  if (scan.tail == io::log_tail::torn)
    warn("log " + path + ": dropping a torn last record at byte " + std::to_string(scan.end)
         + " (" + scan.reason + ")");
  return std::unique_ptr<write_ahead_log>{new write_ahead_log(std::move(*log))};
}

} // namespace lifeline::hnsw
