// What the hnsw_backend*.cpp files share and nothing else needs: the load
// states, the replica marker's file name and the error for a store whose
// files cannot be trusted. hnsw_backend is split by topic (the calls and the
// write pipeline in hnsw_backend.cpp, loading and damage in
// hnsw_backend_load.cpp, snapshots and rebuilds in
// hnsw_backend_maintenance.cpp); these few names are what the parts have in
// common. Include it from those files only.
#pragma once

#include "core/errors.hpp"

#include <string>

namespace lifeline::hnsw_backend_detail {

enum : int { loading = 0, ready_state = 1, failed_state = 2 };

inline constexpr const char* marker_file = "replica-marker";

inline backend_error corrupt(std::string what) { return {errc::corrupt_response, std::move(what)}; }

} // namespace lifeline::hnsw_backend_detail
