#include "helpers.hpp"

#include <catch2/catch.hpp>

namespace lifeline::testing::contract {

// A create answers true when this call created the collection, false when
// an identical one was already there.
bool create(backend& b, const collection_spec& spec) {
  auto r = b.create_collection(spec);
  return r && *r;
}

bool create_existing(backend& b, const collection_spec& spec) {
  auto r = b.create_collection(spec);
  return r && !*r;
}

document doc(const std::string& id, std::vector<float> v, std::string content, uint64_t version) {
  return document{id, std::move(v), std::move(content), R"({"id":")" + id + "\"}", version};
}

document vdoc(const std::string& id, uint64_t version, float x) {
  return document{id, {x, x}, id + " at " + std::to_string(version),
                  R"({"v":)" + std::to_string(version) + "}", version};
}

uint64_t live_version(backend& b, const std::string& id) {
  auto d = b.get("c", id);
  return d ? d->version : 0;
}

std::vector<std::string> ids_of(const std::vector<document>& docs) {
  std::vector<std::string> out;
  for (auto& d : docs) out.push_back(d.id);
  return out;
}

} // namespace lifeline::testing::contract
