// The project's spdlog logger. One named logger ("lifeline") that every
// component shares; embedders may replace it with set_logger().
#pragma once

#include <memory>

namespace spdlog {
class logger;
namespace sinks { class sink; }
} // namespace spdlog

namespace lifeline {

/// The shared logger (created on first use: stderr, colour when a terminal).
spdlog::logger& log();

/// The shared logger itself (to keep it, or to restore it after set_logger).
std::shared_ptr<spdlog::logger> current_logger();

/// Wraps a sink so that identical consecutive lines within 5 s are folded.
std::shared_ptr<spdlog::sinks::sink> rate_limited(std::shared_ptr<spdlog::sinks::sink> inner);

/// Replace the shared logger, e.g. with one that writes JSON lines.
void set_logger(std::shared_ptr<spdlog::logger> logger);

} // namespace lifeline
