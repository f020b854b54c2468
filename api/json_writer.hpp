// A small streaming JSON writer for API replies: objects, arrays, escaped
// strings (invalid UTF-8 becomes U+FFFD, so a reply is always valid JSON),
// shortest round-trip floats, and raw JSON for stored metadata.
#pragma once

#include "core/text_checks.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::api {

class json_writer {
public:
  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }

  json_writer& key(std::string_view k) {
    comma();
    string(k);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  json_writer& value(std::string_view s) {
    comma();
    string(s);
    return *this;
  }
  json_writer& value(const char* s) { return value(std::string_view{s}); }
  json_writer& value(const std::string& s) { return value(std::string_view{s}); }
  json_writer& value(bool b) {
    comma();
    out_ += b ? "true" : "false";
    return *this;
  }
  template <class T>
  json_writer& number(T x) {
    comma();
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, x);
    out_.append(buf, r.ptr);
    return *this;
  }
  json_writer& floats(const std::vector<float>& v) {
    reserve_more(v.size() * 16 + 2); // the longest shortest float is 15 chars, plus a comma
    begin_array();
    for (float x : v) number(x);
    return end_array();
  }
  /// Inserts already-valid JSON text (or null when empty).
  json_writer& raw(std::string_view json) {
    comma();
    out_ += json.empty() ? std::string_view{"null"} : json;
    return *this;
  }
  std::string take() { return std::move(out_); }
  /// Room for `n` more bytes, keeping geometric growth (a reply whose size
  /// is known roughly is built with one allocation, not a dozen).
  void reserve_more(size_t n) {
    if (out_.capacity() - out_.size() < n) out_.reserve(std::max(out_.size() + n, 2 * out_.capacity()));
  }

private:
  json_writer& open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  json_writer& close(char c) {
    out_ += c;
    first_.pop_back();
    return *this;
  }
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
  void string(std::string_view s) {
    bool valid = is_valid_utf8(s);
    out_ += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (c < 0x20) {
            static constexpr char hex[] = "0123456789abcdef";
            out_ += "\\u00";
            out_ += hex[c >> 4];
            out_ += hex[c & 0xF];
          } else if (c >= 0x80 && !valid) {
            out_ += "\\ufffd";
          } else {
            out_ += char(c);
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

} // namespace lifeline::api
