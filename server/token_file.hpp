// The bearer token of the client commands (`lifeline check`, `lifeline
// status`): from --token-file, else LIFELINE_TOKEN, else none.
#pragma once

#include <optional>
#include <string>

namespace lifeline::server {

/// The token, "" for none; nullopt (after a message on stderr naming
/// `command`) if the file cannot be read.
std::optional<std::string> read_token(const std::string& token_file, const char* command);

} // namespace lifeline::server
