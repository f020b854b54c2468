// The one binary encoding of a document, shared by the vector store's log
// and snapshots and by the handoff logs (a write missed by a backend is
// stored as the same bytes the vector store logs for it):
//   str id, floats vector, str content, str metadata, u64 version.
// No CAF in here.
#pragma once

#include "core/types.hpp"
#include "io/binary_io.hpp"

#include <optional>

namespace lifeline::io {

inline void put_document(writer& w, const document& d) {
  w.str(d.id);
  w.floats(d.vector);
  w.str(d.content);
  w.str(d.metadata);
  w.u64(d.version);
}

inline std::optional<document> get_document(reader& r) {
  auto id = r.str();
  auto v = r.floats();
  auto content = r.str();
  auto metadata = r.str();
  auto version = r.u64();
  if (!r.ok()) return std::nullopt;
  return document{std::move(*id), std::move(*v), std::move(*content), std::move(*metadata), *version};
}

} // namespace lifeline::io
