// `lifeline check`: asks a running server to compare its backends
// (GET /v1/admin/check) and prints the differences.
#pragma once

#include <string>

namespace lifeline::server {

/// Returns the process exit code: 0 consistent, 1 differences, 2 error.
int run_check(const std::string& url, const std::string& token_file);

} // namespace lifeline::server
