#include "core/validation.hpp"

#include "core/text_checks.hpp"

#include <algorithm>
#include <cmath>
#include <string>

namespace lifeline {

namespace {

backend_error invalid(std::string msg) {
  return make_backend_error(errc::invalid_argument, std::move(msg));
}

} // namespace

expected<void> validate_collection_name(const std::string& name) {
  if (name.empty()) return invalid("collection name is empty");
  if (name.size() > max_collection_name_bytes)
    return invalid("collection name is longer than "
                   + std::to_string(max_collection_name_bytes) + " bytes");
  for (unsigned char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-' || c == '.';
    if (!ok) return invalid("collection name may only contain [A-Za-z0-9_.-]");
  }
  return {};
}

expected<void> validate_spec(const collection_spec& spec) {
  if (auto ok = validate_collection_name(spec.name); !ok) return ok;
  if (spec.dimension == 0 || spec.dimension > max_dimension)
    return invalid("dimension must be between 1 and " + std::to_string(max_dimension));
  if (spec.metric != metric::l2 && spec.metric != metric::ip && spec.metric != metric::cosine)
    return invalid("unknown metric");
  return {};
}

expected<void> validate_id(const std::string& id) {
  if (id.empty()) return invalid("document id is empty");
  if (id.size() > max_id_bytes)
    return invalid("document id is longer than " + std::to_string(max_id_bytes) + " bytes");
  if (id.find('\0') != std::string::npos) return invalid("document id contains a NUL byte");
  if (!is_valid_utf8(id)) return invalid("document id is not valid UTF-8");
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7f) return invalid("document id contains a control character");
  return {};
}

expected<void> validate_payload(const document& doc) {
  if (doc.content.size() > max_content_bytes)
    return invalid("content is longer than " + std::to_string(max_content_bytes) + " bytes");
  if (doc.content.find('\0') != std::string::npos) return invalid("content contains a NUL byte");
  if (!is_valid_utf8(doc.content)) return invalid("content is not valid UTF-8");
  if (doc.metadata.empty()) return {};
  if (doc.metadata.size() > max_metadata_bytes)
    return invalid("metadata is longer than " + std::to_string(max_metadata_bytes) + " bytes");
  if (doc.metadata.find('\0') != std::string::npos || !is_valid_utf8(doc.metadata))
    return invalid("metadata is not valid UTF-8 text");
  if (!is_json_object(doc.metadata))
    return invalid("metadata is not a JSON object (or nests deeper than "
                   + std::to_string(max_json_depth) + " levels)");
  return {};
}

expected<void> validate_vector(std::span<const float> v, uint32_t dimension) {
  if (v.size() != dimension)
    return invalid("vector has dimension " + std::to_string(v.size()) + ", collection expects "
                   + std::to_string(dimension));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]))
      return invalid("vector component " + std::to_string(i) + " is not a finite number");
    if (std::fabs(v[i]) > max_component)
      return invalid("vector component " + std::to_string(i) + " is larger than 1e15 in magnitude");
  }
  // What normalize makes of it (the same arithmetic, on the largest
  // component only): finite and nonzero for every vector above, since the
  // largest component of a unit vector is at least 1/sqrt(dimension). Kept
  // as a check so that no change to the limits can let a vector through that
  // a cosine collection would store as inf (or as zeros) and then fail to
  // serve.
  double norm2 = 0, largest = 0;
  for (float x : v) {
    norm2 += double(x) * double(x);
    largest = std::max(largest, std::fabs(double(x)));
  }
  if (norm2 > 0) {
    auto unit = float(largest / std::sqrt(norm2));
    if (!std::isfinite(norm2) || !std::isfinite(unit) || unit == 0)
      return invalid("vector cannot be normalised to unit length");
  }
  return {};
}

expected<void> validate_document(const document& doc, uint32_t dimension) {
  if (auto ok = validate_id(doc.id); !ok) return ok;
  if (auto ok = validate_payload(doc); !ok) return ok;
  if (auto ok = validate_version(doc.version); !ok) return ok;
  return validate_vector(doc.vector, dimension);
}

expected<void> validate_version(uint64_t version) {
  // PostgreSQL keeps versions in a signed bigint.
  if (version > uint64_t(INT64_MAX)) return invalid("version is larger than 2^63 - 1");
  return {};
}

expected<void> validate_scan(const scan_request& request) {
  if (request.limit == 0 || request.limit > max_scan_limit)
    return invalid("scan limit must be between 1 and " + std::to_string(max_scan_limit));
  // Ids are UTF-8 without NUL; so is a bound (PostgreSQL compares text).
  if (request.after.find('\0') != std::string::npos || !is_valid_utf8(request.after))
    return invalid("scan bound is not valid UTF-8 text");
  return {};
}

expected<void> validate_range(const range_request& request) {
  if (request.limit == 0 || request.limit > max_scan_limit)
    return invalid("range limit must be between 1 and " + std::to_string(max_scan_limit));
  for (auto* bound : {&request.after, &request.up_to})
    if (bound->find('\0') != std::string::npos || !is_valid_utf8(*bound))
      return invalid("range bound is not valid UTF-8 text");
  return {};
}

expected<void> validate_query(const search_query& q, uint32_t dimension) {
  if (q.k == 0 || q.k > max_k)
    return invalid("k must be between 1 and " + std::to_string(max_k));
  if (q.ef > max_ef) return invalid("ef must be at most " + std::to_string(max_ef));
  return validate_vector(q.vector, dimension);
}

float distance(metric m, std::span<const float> a, std::span<const float> b) {
  switch (m) {
    case metric::l2: {
      float sum = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        float d = a[i] - b[i];
        sum += d * d;
      }
      return sum;
    }
    case metric::ip:
    case metric::cosine: {
      float dot = 0;
      for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i];
      return 1.0f - dot;
    }
  }
  return 0;
}

void normalize(std::vector<float>& v) {
  // In double: a float's square never underflows or overflows there (even a
  // denormal 1e-45 squares to 2e-90), and x / norm is at most 1. Scaling by
  // float(1 / norm) instead overflows to inf for norms below ~3e-39, e.g.
  // [1e-40, 1e-40], which was then stored and failed every read.
  double norm2 = 0;
  for (float x : v) norm2 += double(x) * double(x);
  if (!(norm2 > 0)) return;
  double norm = std::sqrt(norm2);
  for (float& x : v) x = float(double(x) / norm);
}

} // namespace lifeline
