#include "io/checksum.hpp"

#include <zlib.h>

namespace lifeline::io {

uint32_t crc32(const void* data, size_t size, uint32_t crc) {
  // zlib answers a null buffer with its initial value, not with `crc`.
  if (size == 0) return crc;
  // crc32_z takes a size_t length (zlib >= 1.2.9): no 4 GiB limit.
  return uint32_t(::crc32_z(crc, static_cast<const Bytef*>(data), size));
}

} // namespace lifeline::io
