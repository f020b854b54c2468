#include "server/json_log.hpp"

#include "core/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace lifeline::server {

namespace {

/// %j: the message, escaped for a JSON string.
class json_message final : public spdlog::custom_flag_formatter {
public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (unsigned char c : std::string_view{msg.payload.data(), msg.payload.size()}) {
      switch (c) {
        case '"': dest.append(std::string_view{"\\\""}); break;
        case '\\': dest.append(std::string_view{"\\\\"}); break;
        case '\n': dest.append(std::string_view{"\\n"}); break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            dest.append(std::string_view{buf});
          } else {
            dest.push_back(char(c));
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message>();
  }
};

} // namespace

std::shared_ptr<spdlog::logger> make_json_logger() {
  auto logger = std::make_shared<spdlog::logger>(
    "lifeline", rate_limited(std::make_shared<spdlog::sinks::stderr_sink_mt>()));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<json_message>('j').set_pattern(
    R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","message":"%j"})");
  logger->set_formatter(std::move(formatter));
  return logger;
}

} // namespace lifeline::server
