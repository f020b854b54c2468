#include "backends/hnsw/records.hpp"

#include "io/checksum.hpp"
#include "io/document_codec.hpp"
#include "core/validation.hpp"

#include <cstring>

namespace lifeline::hnsw {

using io::crc32;
using io::get_document;
using io::put_document;
using io::reader;
using io::writer;

namespace {

constexpr uint64_t magic_v1 = 0x31504e534c4c4946; // "FILLSNP1"
constexpr uint64_t magic_v2 = 0x32504e534c4c4946; // "FILLSNP2"

backend_error corrupt(std::string what) { return {errc::corrupt_response, std::move(what)}; }

writer header(uint64_t lsn, record_type type) {
  writer w;
  w.u64(lsn);
  w.u8(static_cast<uint8_t>(type));
  return w;
}

} // namespace

std::string encode_create(uint64_t lsn, const collection_spec& spec) {
  auto w = header(lsn, record_type::create);
  w.str(spec.name);
  w.u32(spec.dimension);
  w.u8(static_cast<uint8_t>(spec.metric));
  return std::move(w.bytes());
}

std::string encode_drop(uint64_t lsn, const std::string& name) {
  auto w = header(lsn, record_type::drop);
  w.str(name);
  return std::move(w.bytes());
}

std::string encode_upsert(uint64_t lsn, const std::string& collection,
                          const std::vector<document>& docs, const std::vector<bool>& keep) {
  auto w = header(lsn, record_type::upsert);
  w.str(collection);
  uint32_t n = 0;
  for (size_t i = 0; i < docs.size(); ++i) n += keep.empty() || keep[i];
  w.u32(n);
  for (size_t i = 0; i < docs.size(); ++i)
    if (keep.empty() || keep[i]) put_document(w, docs[i]);
  return std::move(w.bytes());
}

std::string encode_remove(uint64_t lsn, const std::string& collection, const std::string& id,
                          uint64_t version) {
  auto w = header(lsn, record_type::remove);
  w.str(collection);
  w.str(id);
  w.u64(version);
  return std::move(w.bytes());
}

std::string encode_purge(uint64_t lsn, uint64_t up_to) {
  auto w = header(lsn, record_type::purge);
  w.u64(up_to);
  return std::move(w.bytes());
}

expected<record> decode_record(std::string_view payload) {
  reader r{payload};
  auto lsn = r.u64();
  auto type = r.u8();
  if (!r.ok()) return corrupt("record header is damaged");
  record rec;
  rec.lsn = *lsn;
  rec.type = static_cast<record_type>(*type);
  switch (rec.type) {
    case record_type::create: {
      auto name = r.str();
      auto dim = r.u32();
      auto m = r.u8();
      // A dimension no create accepts is damage: it would have hnswlib
      // allocate capacity x dimension floats (up to 16 GiB per element).
      if (!r.ok() || *m > 2 || *dim == 0 || *dim > max_dimension)
        return corrupt("create record is damaged");
      rec.spec = collection_spec{std::move(*name), *dim, static_cast<metric>(*m)};
      break;
    }
    case record_type::drop: {
      auto name = r.str();
      if (!r.ok()) return corrupt("drop record is damaged");
      rec.collection = std::move(*name);
      break;
    }
    case record_type::legacy_upsert:
    case record_type::upsert: {
      auto name = r.str();
      auto n = r.u32();
      if (!r.ok()) return corrupt("upsert record is damaged");
      rec.collection = std::move(*name);
      for (uint32_t i = 0; i < *n; ++i) {
        auto d = get_document(r);
        if (!d) return corrupt("upsert record is damaged");
        rec.docs.push_back(std::move(*d));
      }
      break;
    }
    case record_type::legacy_remove:
    case record_type::remove: {
      auto name = r.str();
      auto id = r.str();
      auto version = rec.type == record_type::remove ? r.u64() : std::optional<uint64_t>{0};
      if (!r.ok()) return corrupt("remove record is damaged");
      rec.collection = std::move(*name);
      rec.id = std::move(*id);
      rec.version = *version;
      break;
    }
    case record_type::purge: {
      auto up_to = r.u64();
      if (!r.ok()) return corrupt("purge record is damaged");
      rec.up_to = *up_to;
      break;
    }
    default:
      return corrupt("unknown record type " + std::to_string(*type));
  }
  return rec;
}

std::string encode_manifest(const manifest& m) {
  writer w;
  w.u64(magic_v2);
  w.u64(m.lsn);
  w.u32(uint32_t(m.collections.size()));
  for (auto& e : m.collections) {
    w.str(e.spec.name);
    w.u32(e.spec.dimension);
    w.u8(static_cast<uint8_t>(e.spec.metric));
    w.str(e.index_file);
    w.u32(e.index_crc);
    w.str(e.meta_file);
    w.u32(e.meta_crc);
  }
  auto& body = w.bytes();
  uint32_t crc = crc32(body.data(), body.size());
  body.append(reinterpret_cast<const char*>(&crc), 4);
  return std::move(body);
}

expected<manifest> decode_manifest(std::string_view file) {
  if (file.size() < 4) return corrupt("manifest is damaged");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, file.data() + file.size() - 4, 4);
  auto body = file.substr(0, file.size() - 4);
  if (crc32(body.data(), body.size()) != stored_crc) return corrupt("manifest checksum mismatch");
  reader r{body};
  auto magic = r.u64();
  auto lsn = r.u64();
  auto n = r.u32();
  if (!r.ok() || (*magic != magic_v1 && *magic != magic_v2)) return corrupt("not a snapshot");
  manifest m;
  m.lsn = *lsn;
  m.has_tombstones = *magic == magic_v2;
  for (uint32_t i = 0; i < *n; ++i) {
    auto name = r.str();
    auto dim = r.u32();
    auto metric_byte = r.u8();
    auto index_file = r.str();
    auto index_crc = r.u32();
    auto meta_file = r.str();
    auto meta_crc = r.u32();
    if (!r.ok() || *metric_byte > 2 || *dim == 0 || *dim > max_dimension)
      return corrupt("manifest is damaged");
    m.collections.push_back(manifest_entry{
      collection_spec{std::move(*name), *dim, static_cast<metric>(*metric_byte)},
      std::move(*index_file), *index_crc, std::move(*meta_file), *meta_crc});
  }
  return m;
}

} // namespace lifeline::hnsw
