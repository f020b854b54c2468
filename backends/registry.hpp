// The kinds of backend the `lifeline` server can be configured with. Adding
// a kind touches backends/ and one line in registry.cpp, nothing else.
#pragma once

#include "backends/backend.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lifeline {

/// One backend's settings from the configuration file: key -> value text.
using backend_settings = std::map<std::string, std::string>;

/// Makes the backend instance, at start and on each restart.
using backend_maker = std::function<expected<std::shared_ptr<backend>>()>;

struct backend_kind {
  std::string name; ///< "postgres", "hnsw", "memory"
  /// Checks the settings (unknown keys and bad values are errors naming the
  /// key) and returns the maker. `data_dir` is the server's data directory.
  std::function<expected<backend_maker>(const std::string& backend_name,
                                        const backend_settings& settings,
                                        const std::string& data_dir)>
    configure;
};

const std::vector<backend_kind>& backend_kinds();
const backend_kind* find_backend_kind(const std::string& name);

} // namespace lifeline
