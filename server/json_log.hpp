// JSON-lines logging for `lifeline serve --log-format json`: one object per
// line with time, level, logger and the message, escaped.
#pragma once

#include <memory>

namespace spdlog { class logger; }

namespace lifeline::server {

std::shared_ptr<spdlog::logger> make_json_logger();

} // namespace lifeline::server
