#include "core/text_checks.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace lifeline;

TEST_CASE("UTF-8: well-formed text passes, malformed text does not", "[text]") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("plain ascii"));
  CHECK(is_valid_utf8("é ✓ 𝄞 日本"));
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\xc3"));             // truncated
  CHECK_FALSE(is_valid_utf8("\xe2\x9c"));         // truncated
  CHECK_FALSE(is_valid_utf8("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(is_valid_utf8("\xed\xa0\x80"));     // surrogate U+D800
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80")); // beyond U+10FFFF
  CHECK_FALSE(is_valid_utf8("a\x80z"));           // stray continuation byte
}

TEST_CASE("JSON: one object, RFC 8259 syntax", "[text]") {
  CHECK(is_json_object("{}"));
  CHECK(is_json_object(" { \"a\" : [1, -2.5e+3, true, false, null, \"x\\\"y\\\\z\\u00e9\"] } \n"));
  CHECK(is_json_object(R"({"nested":{"deeper":{"k":[{}]}}})"));
  CHECK(is_json_object(R"({"pair":"\ud834\udd1e"})"));
  CHECK_FALSE(is_json_object(""));
  CHECK_FALSE(is_json_object("[]"));    // not an object
  CHECK_FALSE(is_json_object("\"s\"")); // not an object
  CHECK_FALSE(is_json_object("{"));
  CHECK_FALSE(is_json_object("{\"a\":1,}"));
  CHECK_FALSE(is_json_object("{\"a\" 1}"));
  CHECK_FALSE(is_json_object("{'a':1}"));
  CHECK_FALSE(is_json_object("{\"a\":01}"));
  CHECK_FALSE(is_json_object("{\"a\":1.}"));
  CHECK_FALSE(is_json_object("{\"a\":tru}"));
  CHECK_FALSE(is_json_object("{\"a\":\"\x01\"}")); // raw control character
  CHECK_FALSE(is_json_object("{\"a\":\"\\x\"}"));  // bad escape
  CHECK_FALSE(is_json_object(R"({"a":"\ud800"})")); // unpaired surrogate
  CHECK_FALSE(is_json_object(R"({"a":"\udc00"})"));
  CHECK_FALSE(is_json_object("{} {}"));
}

TEST_CASE("JSON: nesting is bounded", "[text]") {
  std::string ok = "{\"a\":" + std::string(max_json_depth - 1, '[') + std::string(max_json_depth - 1, ']') + "}";
  CHECK(is_json_object(ok));
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_FALSE(is_json_object(deep)); // refused, not a stack overflow
}
