#include "backends/postgres_codec.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

namespace lifeline::pg {

static_assert(std::endian::native == std::endian::little,
              "vectors are stored as little-endian float32");

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

} // namespace

std::string vector_to_bytea_hex(const std::vector<float>& v) {
  std::string out;
  out.reserve(2 + v.size() * 8);
  out += "\\x";
  auto* bytes = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) {
    out += hex_digits[bytes[i] >> 4];
    out += hex_digits[bytes[i] & 0xF];
  }
  return out;
}

bool decode_bytea_hex(std::string_view text, std::vector<float>& out) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x') return false;
  auto hex = text.substr(2);
  if (hex.size() % 8 != 0) return false;
  out.resize(hex.size() / 8);
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_value(hex[i]);
    int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i / 2] = static_cast<unsigned char>((hi << 4) | lo);
  }
  return true;
}

std::optional<std::vector<float>> vector_from_bytea_hex(std::string_view text) {
  std::vector<float> out;
  if (!decode_bytea_hex(text, out)) return std::nullopt;
  return out;
}

std::optional<std::vector<float>> vector_from_bytea_binary(std::string_view bytes) {
  if (bytes.size() % sizeof(float) != 0) return std::nullopt;
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

void append_array_element(std::string& literal, const std::optional<std::string_view>& value) {
  if (literal.size() > 1) literal += ',';
  if (!value) {
    literal += "NULL";
    return;
  }
  literal += '"';
  for (char c : *value) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  literal += '"';
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (auto& v : values) append_array_element(out, std::string_view{v});
  out += '}';
  return out;
}

void document_arrays::add(const document& d, const std::vector<float>& vector) {
  append_array_element(ids, std::string_view{d.id});
  append_array_element(vectors, std::string_view{vector_to_bytea_hex(vector)});
  append_array_element(contents, std::string_view{d.content});
  append_array_element(metadata, d.metadata.empty() ? std::nullopt
                                                    : std::optional<std::string_view>{d.metadata});
  append_array_element(versions, std::string_view{std::to_string(d.version)});
}

void document_arrays::close() {
  for (auto* s : {&ids, &vectors, &contents, &metadata, &versions}) *s += '}';
}

} // namespace lifeline::pg
