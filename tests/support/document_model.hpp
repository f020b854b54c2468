// The randomized fault tests' model of every acknowledged write (one node:
// tests/replication/fault_run.hpp; several: tests/cluster/cluster_fault_test.cpp)
// and the one rule a read is held to: it answers the acknowledged state.
#pragma once

#include "api/http_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace lifeline::testing {

struct model_doc {
  bool live = false;
  uint64_t version = 0;
  std::string content;
};

using document_model = std::map<std::string, model_doc>;

/// A GET of `id` answered `r`: 404 for a document deleted or never written,
/// else 200 with the acknowledged version and content.
inline void check_read(const document_model& model, const std::string& id,
                       const api::http_response& r) {
  auto it = model.find(id);
  if (it == model.end() || !it->second.live) {
    CHECK(r.status == 404);
    return;
  }
  REQUIRE(r.status == 200);
  auto doc = nlohmann::json::parse(r.body);
  CHECK(doc.at("version").get<uint64_t>() == it->second.version);
  CHECK(doc.at("content").get<std::string>() == it->second.content);
}

} // namespace lifeline::testing
