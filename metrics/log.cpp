#include "metrics/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>

namespace lifeline {

namespace {

std::shared_ptr<spdlog::logger> make_default() {
  auto logger = spdlog::stderr_color_mt("lifeline");
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
