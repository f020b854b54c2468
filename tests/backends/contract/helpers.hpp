// Small builders and checks shared by the contract cases.
#pragma once

#include "backends/backend.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace lifeline::testing::contract {

/// Creates a collection that does not exist yet. Every contract case
/// creates through here or create_existing, so that a change to
/// backend::create_collection's result (issue 13: created vs exists) is
/// adapted in these two functions only.
bool create(backend& b, const collection_spec& spec);
/// Creates a collection that exists already with this very spec: succeeds
/// and changes nothing.
bool create_existing(backend& b, const collection_spec& spec);

/// How a call ended, to compare with an error kind: `error_of(call) ==
/// errc::not_found` is false for a call that succeeded, and a failed
/// check prints the outcome with its message.
struct outcome {
  bool ok = true;
  errc kind = errc::backend_error;
  std::string message;
  friend bool operator==(const outcome& o, errc k) { return !o.ok && o.kind == k; }
};

template <class T>
outcome error_of(const expected<T>& r) {
  if (r) return {};
  return {false, r.error().kind, r.error().message};
}

/// A document with JSON metadata naming its id.
document doc(const std::string& id, std::vector<float> v, std::string content = {},
             uint64_t version = 0);
/// A two-dimensional document at `version` whose content and metadata name it.
document vdoc(const std::string& id, uint64_t version, float x = 0);

/// The version of the live document `id` in collection "c", 0 if none.
uint64_t live_version(backend& b, const std::string& id);

std::vector<std::string> ids_of(const std::vector<document>& docs);

/// True if the remove succeeded and deleted a live document.
inline bool removed(const expected<bool>& r) { return r && *r; }
/// True if the remove succeeded and only left (or kept) a tombstone.
inline bool tombstone_only(const expected<bool>& r) { return r && !*r; }

} // namespace lifeline::testing::contract

namespace Catch {
template <>
struct StringMaker<lifeline::errc> {
  static std::string convert(lifeline::errc k) { return lifeline::to_string(k); }
};
template <>
struct StringMaker<lifeline::testing::contract::outcome> {
  static std::string convert(const lifeline::testing::contract::outcome& o) {
    if (o.ok) return "success";
    return std::string{lifeline::to_string(o.kind)} + " (" + o.message + ")";
  }
};
} // namespace Catch
