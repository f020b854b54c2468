// Little-endian binary encoding for the files Lifeline keeps (the vector
// store's log and snapshots, the handoff logs): a writer that appends
// values to a byte string and a reader whose every read is bounds-checked.
// Documents have their own encoding next to this, io/document_codec.hpp.
// No CAF in here.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::io {

/// Appends values to a byte string.
class writer {
public:
  void u8(uint8_t x) { out_.push_back(char(x)); }
  void u32(uint32_t x) { raw(&x, sizeof x); }
  void u64(uint64_t x) { raw(&x, sizeof x); }
  void str(std::string_view s) {
    u32(uint32_t(s.size()));
    out_.append(s.data(), s.size());
  }
  void floats(const std::vector<float>& v) {
    u32(uint32_t(v.size()));
    raw(v.data(), v.size() * sizeof(float));
  }
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& bytes() { return out_; }

private:
  std::string out_;
};

/// Reads values back; every read checks bounds, so damaged input gives
/// nullopt (then `ok()` is false), never a crash or a huge allocation.
class reader {
public:
  explicit reader(std::string_view in) : in_(in) {}
  std::optional<uint8_t> u8() { return fixed<uint8_t>(); }
  std::optional<uint32_t> u32() { return fixed<uint32_t>(); }
  std::optional<uint64_t> u64() { return fixed<uint64_t>(); }
  std::optional<std::string> str() {
    auto n = u32();
    if (!n || *n > in_.size() - pos_) return fail<std::string>();
    std::string s{in_.substr(pos_, *n)};
    pos_ += *n;
    return s;
  }
  std::optional<std::vector<float>> floats() {
    auto n = u32();
    if (!n || size_t(*n) * sizeof(float) > in_.size() - pos_) return fail<std::vector<float>>();
    std::vector<float> v(*n);
    // An empty vector's data() may be null: memcpy(nullptr, ..., 0) is UB.
    if (*n > 0) std::memcpy(v.data(), in_.data() + pos_, *n * sizeof(float));
    pos_ += *n * sizeof(float);
    return v;
  }
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }

private:
  template <class T>
  std::optional<T> fixed() {
    if (sizeof(T) > in_.size() - pos_) return fail<T>();
    T x;
    std::memcpy(&x, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return x;
  }
  template <class T>
  std::optional<T> fail() {
    ok_ = false;
    pos_ = in_.size();
    return std::nullopt;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

} // namespace lifeline::io
