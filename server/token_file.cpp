#include "server/token_file.hpp"

#include "server/config.hpp"

#include <cstdlib>
#include <iostream>

namespace lifeline::server {

std::optional<std::string> read_token(const std::string& token_file, const char* command) {
  if (token_file.empty()) {
    const char* env = std::getenv("LIFELINE_TOKEN");
    return std::string{env ? env : ""};
  }
  // Read as the server reads its own (trailing white space trimmed), so that
  // a file that works for one works for the other.
  auto token = read_token_file(token_file);
  if (!token) {
    std::cerr << "lifeline " << command << ": " << token.error().message << "\n";
    return std::nullopt;
  }
  return *token;
}

} // namespace lifeline::server
