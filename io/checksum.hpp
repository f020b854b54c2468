// The checksum that guards every log record and snapshot file.
//
// Why zlib's crc32 and not xxHash: the files already on disk carry CRC-32
// (IEEE 802.3: reflected polynomial 0xEDB88320, initial and final value
// inverted), which is exactly what zlib computes, so zlib reads and writes
// the existing format bit for bit, with no second record format to keep
// readable. zlib's implementation is maintained and table-sliced (several
// times faster than the byte-wise table it replaces), and the logs are
// bound by fdatasync, not by the checksum (docs/BENCHMARKS.md, "Record
// log"), so a faster hash would buy nothing measurable for a format change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace lifeline::io {

/// CRC-32 (IEEE 802.3) of `size` bytes, continuing from `crc` (0 to start):
/// crc32(b, crc32(a)) == crc32(a + b).
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

inline uint32_t crc32(std::string_view bytes, uint32_t crc = 0) {
  return crc32(bytes.data(), bytes.size(), crc);
}

} // namespace lifeline::io
