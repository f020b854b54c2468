#include "core/log.hpp"

#include <spdlog/sinks/dup_filter_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace lifeline {

// Identical consecutive lines within 5 s are folded into one "skipped N"
// line: an outage at 10k requests/s must not flood the disk.
std::shared_ptr<spdlog::sinks::sink> rate_limited(std::shared_ptr<spdlog::sinks::sink> inner) {
  auto dedup = std::make_shared<spdlog::sinks::dup_filter_sink_mt>(std::chrono::seconds(5));
  dedup->add_sink(std::move(inner));
  return dedup;
}

namespace {


std::shared_ptr<spdlog::logger> make_default() {
  auto logger = std::make_shared<spdlog::logger>("lifeline", rate_limited(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  return logger;
}

std::shared_ptr<spdlog::logger>& slot() {
  static std::shared_ptr<spdlog::logger> logger = make_default();
  return logger;
}

} // namespace

spdlog::logger& log() {
  return *std::atomic_load(&slot());
}

std::shared_ptr<spdlog::logger> current_logger() {
  return std::atomic_load(&slot());
}

void set_logger(std::shared_ptr<spdlog::logger> logger) {
  std::atomic_store(&slot(), std::move(logger));
}

} // namespace lifeline
