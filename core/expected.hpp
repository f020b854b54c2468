// Result type for fallible calls: a value or an error (a backend_error unless
// said otherwise). No CAF in here.
#pragma once

#include "core/errors.hpp"

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lifeline {

/// Either a T or an E, like std::expected (C++23).
template <class T, class E = backend_error>
class expected {
public:
  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  expected(E err) : v_(std::in_place_index<1>, std::move(err)) {}

  explicit operator bool() const { return v_.index() == 0; }
  bool has_value() const { return v_.index() == 0; }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const { assert(!has_value()); return std::get<1>(v_); }

private:
  std::variant<T, E> v_;
};

/// The value-less case: success or an E.
template <class E>
class expected<void, E> {
public:
  expected() = default;
  expected(E err) : err_(std::move(err)), ok_(false) {}

  explicit operator bool() const { return ok_; }
  bool has_value() const { return ok_; }
  const E& error() const { assert(!ok_); return err_; }

private:
  E err_;
  bool ok_ = true;
};

} // namespace lifeline
