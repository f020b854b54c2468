// Helpers shared by the fuzz targets: splitting an input into fields, framing
// payloads the way the logs do (so inputs get past the CRC and reach the
// decoders), and a scratch directory per process.
#pragma once

#include "io/record_log.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::fuzz {

/// The fields of an input separated by 0xFF bytes (0xFF never occurs in
/// UTF-8, so text fields stay text). Missing fields are empty.
inline std::vector<std::string> split_fields(std::string_view in, size_t count) {
  std::vector<std::string> out(count);
  size_t field = 0;
  for (char c : in) {
    if (static_cast<unsigned char>(c) == 0xFF && field + 1 < count) ++field;
    else out[field] += c;
  }
  return out;
}

/// Frames payloads as [u32 length][u32 CRC-32][payload], the framing of the
/// vector store's log and the handoff log. `in` holds chunks of
/// [u16 length][payload]; a chunk cut short by the end of the input is
/// appended raw (a torn tail).
inline std::string frame_chunks(std::string_view in) {
  std::string out;
  while (in.size() >= 2) {
    size_t n = uint8_t(in[0]) | size_t(uint8_t(in[1])) << 8;
    in.remove_prefix(2);
    if (n > in.size()) break;
    auto payload = in.substr(0, n);
    in.remove_prefix(n);
    io::append_frame(out, payload);
  }
  out += in; // whatever is left: a torn record
  return out;
}

/// The inverse of frame_chunks' input format, for writing seeds.
inline std::string chunk(std::string_view payload) {
  std::string out;
  out += char(payload.size() & 0xFF);
  out += char(payload.size() >> 8 & 0xFF);
  out += payload;
  return out;
}

/// A scratch directory for this process, removed at exit (kept in a
/// never-destroyed string, so the exit handler can still read it).
inline const std::string& scratch_root() {
  static const std::string* root = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lifeline-fuzz.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    auto* path = new std::string{tmpl};
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_root(), ec);
    });
    return path;
  }();
  return *root;
}

/// An empty directory `name` under the scratch root (emptied if it exists).
inline std::string fresh_dir(const std::string& name) {
  auto dir = scratch_root() + "/" + name;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_bytes(const std::string& path, std::string_view data) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(data.data(), std::streamsize(data.size()));
  if (!out) std::abort();
}

/// Fails the run (libFuzzer saves the input) with a message.
[[noreturn]] inline void fail(const std::string& why) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", why.c_str());
  std::abort();
}

} // namespace lifeline::fuzz
