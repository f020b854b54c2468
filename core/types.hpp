// Plain value types shared by every backend and by the actor protocol.
// No CAF in here: backends are ordinary C++ clients.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline {

/// How distance between two vectors is measured. Distances are "smaller is
/// nearer" for every metric: squared L2, 1 - dot product, 1 - cosine.
enum class metric : uint8_t { l2 = 0, ip = 1, cosine = 2 };

std::string_view to_string(metric m);
std::optional<metric> parse_metric(std::string_view text);

/// A named set of documents whose vectors share one dimension and metric.
struct collection_spec {
  std::string name;
  uint32_t dimension = 0;
  lifeline::metric metric = metric::l2;

  friend bool operator==(const collection_spec&, const collection_spec&) = default;
};

/// The unit of storage: an id, a vector, free text and JSON metadata.
struct document {
  std::string id;
  std::vector<float> vector;
  std::string content;
  /// JSON object text; empty means no metadata.
  std::string metadata;
  /// Write version; 0 until a versioned write assigns one.
  uint64_t version = 0;

  friend bool operator==(const document&, const document&) = default;
};

/// A k-nearest-neighbour query against one collection.
struct search_query {
  std::string collection;
  std::vector<float> vector;
  uint32_t k = 10;
  /// hnsw search breadth; 0 means the backend's default.
  uint32_t ef = 0;
};

struct search_hit {
  std::string id;
  float distance = 0;
  std::string content;
  std::string metadata;

  friend bool operator==(const search_hit&, const search_hit&) = default;
};

/// One page of a scan over a collection's live documents, in id order.
struct scan_request {
  std::string collection;
  /// Exclusive lower bound on the id ("" starts at the beginning).
  std::string after;
  uint32_t limit = 1000;
  /// False: ids and versions only (enough to compare replicas).
  bool with_payload = true;
};

/// A range of a collection's stored ids, live and deleted, for anti-entropy
/// repair: ids in (after, up_to] in byte order, at most `limit` of them.
struct range_request {
  std::string collection;
  /// Exclusive lower bound ("" starts at the beginning).
  std::string after;
  /// Inclusive upper bound ("" means no upper bound).
  std::string up_to;
  uint32_t limit = 1000;
};

/// One stored id as repair compares it: the version of the last write a
/// backend applied to it, and whether that write was a delete (a tombstone).
struct version_entry {
  std::string id;
  uint64_t version = 0;
  bool deleted = false;

  friend bool operator==(const version_entry&, const version_entry&) = default;
};

/// What two replicas compare before they compare ids: the number of entries
/// of a range, a hash over them in id order (core/digest.hpp), and the last
/// id in it ("" if the range is empty). Equal digests mean equal ranges.
struct range_digest {
  uint64_t count = 0;
  uint64_t hash = 0;
  std::string last;

  friend bool operator==(const range_digest&, const range_digest&) = default;
};

struct collection_stats {
  collection_spec spec;
  uint64_t count = 0;

  friend bool operator==(const collection_stats&, const collection_stats&) = default;
};

/// Every operation a backend may serve. Each backend declares the subset it
/// can serve; the coordinator only routes an operation to capable backends.
enum class operation : uint8_t {
  create_collection = 0,
  drop_collection,
  list_collections,
  collection_stats,
  upsert,
  get,
  remove,
  search,
  probe,
  scan,
};
inline constexpr int operation_count = 10;

std::string_view to_string(operation op);

/// A set of operations, one bit each.
class capabilities {
public:
  constexpr capabilities() = default;
  static constexpr capabilities all() {
    capabilities c;
    c.bits_ = (1u << operation_count) - 1;
    return c;
  }
  constexpr capabilities with(operation op) const {
    capabilities c = *this;
    c.bits_ |= bit(op);
    return c;
  }
  constexpr capabilities without(operation op) const {
    capabilities c = *this;
    c.bits_ &= ~bit(op);
    return c;
  }
  static constexpr capabilities from_bits(uint32_t bits) {
    capabilities c;
    c.bits_ = bits & all().bits_;
    return c;
  }
  constexpr bool has(operation op) const { return (bits_ & bit(op)) != 0; }
  constexpr uint32_t bits() const { return bits_; }

private:
  static constexpr uint32_t bit(operation op) { return 1u << static_cast<unsigned>(op); }
  uint32_t bits_ = 0;
};

/// One hot standby of a database that has read copies (a postgres backend's
/// read_replicas), as last seen by the backend.
struct standby_status {
  std::string name;        ///< host:port
  bool reachable = false;  ///< Its last check connected.
  /// It would serve a read now: it has replayed every write acknowledged
  /// through this backend.
  bool serving = false;
  int64_t lag_bytes = -1;  ///< Behind the last acknowledged write (-1: unknown).
  double lag_seconds = -1; ///< Since its last replayed commit, while behind (-1: unknown).
  uint64_t reads = 0;      ///< Reads it served (this process).
  uint64_t refused = 0;    ///< Reads it refused because it had not replayed far enough.
  std::string error;       ///< Why it does not serve (empty while it does).
};

/// Where a replicated database stands: its primary and its standbys.
struct database_status {
  std::string primary;          ///< host:port of the primary last reached ("" if none yet).
  bool primary_reachable = false;
  std::string timeline;         ///< The primary's timeline (8 hex digits; "" if unknown).
  std::vector<standby_status> standbys;
};

} // namespace lifeline
