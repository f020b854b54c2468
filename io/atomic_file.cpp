#include "io/atomic_file.hpp"

#include "io/files.hpp"

#include <cstdio>

namespace lifeline::io {

expected<void> write_file_atomic(const std::string& path, std::string_view data) {
  auto tmp = path + ".tmp";
  if (auto ok = write_file_synced(tmp, data); !ok) return ok;
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return io_error("renaming " + tmp);
  return sync_dir(parent_dir(path));
}

} // namespace lifeline::io
