#include "core/text_checks.hpp"

#include <cstdint>
#include <optional>

namespace lifeline {

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false; // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t min_for_length[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_for_length[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

namespace {

/// A recursive-descent JSON syntax checker (no values are built).
class json_checker {
public:
  explicit json_checker(std::string_view s) : s_(s) {}

  bool object_document() {
    skip_ws();
    if (peek() != '{') return false;
    if (!value(0)) return false;
    skip_ws();
    return pos_ == s_.size();
  }

private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= s_.size(); }

  void skip_ws() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
      ++pos_;
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool value(size_t depth) {
    skip_ws();
    switch (peek()) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }

  bool object(size_t depth) {
    if (depth > max_json_depth) return false;
    ++pos_; // '{'
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"' || !string()) return false;
      skip_ws();
      if (peek() != ':') return false;
      ++pos_;
      if (!value(depth)) return false;
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  bool array(size_t depth) {
    if (depth > max_json_depth) return false;
    ++pos_; // '['
    skip_ws();
    if (peek() == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      if (!value(depth)) return false;
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  std::optional<uint32_t> hex4() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      if (at_end() || !is_hex(peek())) return std::nullopt;
      char c = s_[pos_++];
      v = v * 16 + uint32_t(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
  }

  bool string() {
    ++pos_; // '"'
    while (!at_end()) {
      auto c = static_cast<unsigned char>(s_[pos_++]);
      if (c == '"') return true;
      if (c < 0x20) return false; // control characters must be escaped
      if (c != '\\') continue;
      if (at_end()) return false;
      char e = s_[pos_++];
      if (e == 'u') {
        auto unit = hex4();
        if (!unit) return false;
        // PostgreSQL's json refuses unpaired surrogates: so do we, so that
        // every backend accepts the same metadata.
        if (*unit >= 0xDC00 && *unit <= 0xDFFF) return false;
        if (*unit >= 0xD800 && *unit <= 0xDBFF) {
          if (s_.substr(pos_, 2) != "\\u") return false;
          pos_ += 2;
          auto low = hex4();
          if (!low || *low < 0xDC00 || *low > 0xDFFF) return false;
        }
      } else if (std::string_view{"\"\\/bfnrt"}.find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }

  bool digits() {
    size_t start = pos_;
    while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }

  bool number() {
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return false;
    }
    if (peek() == '.') {
      ++pos_;
      if (!digits()) return false;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return false;
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

} // namespace

bool is_json_object(std::string_view s) { return json_checker{s}.object_document(); }

} // namespace lifeline
