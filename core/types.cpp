// The names of the value types' enums (API fields, metric labels, logs).
#include "core/types.hpp"

namespace lifeline {

std::string_view to_string(metric m) {
  switch (m) {
    case metric::l2: return "l2";
    case metric::ip: return "ip";
    case metric::cosine: return "cosine";
  }
  return "unknown";
}

std::optional<metric> parse_metric(std::string_view text) {
  if (text == "l2") return metric::l2;
  if (text == "ip") return metric::ip;
  if (text == "cosine") return metric::cosine;
  return std::nullopt;
}

std::string_view to_string(operation op) {
  switch (op) {
    case operation::create_collection: return "create_collection";
    case operation::drop_collection: return "drop_collection";
    case operation::list_collections: return "list_collections";
    case operation::collection_stats: return "collection_stats";
    case operation::upsert: return "upsert";
    case operation::get: return "get";
    case operation::remove: return "remove";
    case operation::search: return "search";
    case operation::probe: return "probe";
    case operation::scan: return "scan";
  }
  return "unknown";
}

} // namespace lifeline
