#include "backends/hnsw/snapshot.hpp"

#include "backends/hnsw/records.hpp"
#include "io/checksum.hpp"
#include "io/files.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace lifeline::hnsw {

namespace fs = std::filesystem;
using io::crc32;
using io::read_file;
using io::sync_dir;
using io::sync_file;
using io::write_file_synced;

namespace {

backend_error corrupt(std::string what) { return {errc::corrupt_response, std::move(what)}; }

expected<uint32_t> crc_of_file(const std::string& path) {
  auto data = read_file(path);
  if (!data) return data.error();
  return crc32(data->data(), data->size());
}

} // namespace

expected<void> write_snapshot(const std::string& dir, uint64_t lsn,
                              const collection_map& collections) {
  manifest m;
  m.lsn = lsn;
  size_t i = 0;
  for (auto& [name, c] : collections) {
    auto index_file = "c" + std::to_string(i) + ".hnsw";
    auto meta_file = "c" + std::to_string(i++) + ".meta";
    std::string meta;
    try {
      meta = c->save(dir + "/" + index_file);
    } catch (const std::exception& e) {
      return backend_error{errc::backend_error, std::string{"writing a snapshot: "} + e.what()};
    }
    // hnswlib does not check its stream: a full disk would leave a short file
    // whose checksum matches. Compare with the size the index must have.
    std::error_code size_ec;
    if (fs::file_size(dir + "/" + index_file, size_ec) != c->saved_index_bytes() || size_ec)
      return backend_error{errc::backend_error, "writing a snapshot: the index file of '" + name
                                                 + "' is incomplete (disk full?)"};
    if (auto ok = sync_file(dir + "/" + index_file); !ok) return ok;
    if (auto ok = write_file_synced(dir + "/" + meta_file, meta); !ok) return ok;
    auto icrc = crc_of_file(dir + "/" + index_file);
    if (!icrc) return icrc.error();
    m.collections.push_back(manifest_entry{c->spec(), index_file, *icrc, meta_file,
                                           crc32(meta.data(), meta.size())});
  }
  if (auto ok = write_file_synced(dir + "/manifest", encode_manifest(m)); !ok) return ok;
  return sync_dir(dir);
}

expected<loaded_snapshot> load_snapshot(const std::string& dir, const index_params& params,
                                        std::atomic<uint64_t>& done,
                                        std::atomic<uint64_t>& total) {
  auto file = read_file(dir + "/manifest");
  if (!file) return file.error();
  auto m = decode_manifest(*file);
  if (!m) return corrupt("snapshot " + dir + ": " + m.error().message);
  loaded_snapshot out;
  out.lsn = m->lsn;
  total = m->collections.size();
  for (auto& e : m->collections) {
    auto& spec = e.spec;
    auto icrc = crc_of_file(dir + "/" + e.index_file);
    if (!icrc || *icrc != e.index_crc)
      return corrupt("snapshot " + dir + ": index of '" + spec.name + "' is damaged");
    auto meta = read_file(dir + "/" + e.meta_file);
    if (!meta || crc32(meta->data(), meta->size()) != e.meta_crc)
      return corrupt("snapshot " + dir + ": documents of '" + spec.name + "' are damaged");
    auto c = collection::load(spec, params, dir + "/" + e.index_file, *meta, m->has_tombstones);
    if (!c) return corrupt("snapshot " + dir + ": " + c.error().message);
    log().info("vector store {}: loaded collection {} ({} documents), {}/{}", dir, spec.name,
               (*c)->count(), done + 1, m->collections.size());
    out.collections.emplace(spec.name, std::move(*c));
    ++done;
  }
  return out;
}

} // namespace lifeline::hnsw
