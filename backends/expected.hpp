// Result type for backend calls: a value or a backend_error. No CAF in here.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace lifeline {

/// Why a backend call failed. The coordinator uses the kind to decide whether
/// the failure says something about the backend's health (unavailable,
/// failed, timeout, corrupt) or about the request (the rest).
enum class error_kind : uint8_t {
  not_found,        ///< The collection or document does not exist.
  invalid_argument, ///< The request is malformed (dimension, NaN, empty id...).
  conflict,         ///< E.g. a collection exists with another spec.
  unsupported,      ///< This backend cannot serve the operation.
  unavailable,      ///< Connection-level: refused, reset, not connected.
  failed,           ///< Any other server-side failure.
  timeout,          ///< The backend gave up waiting on its store.
  corrupt,          ///< The store returned data that fails an invariant.
};

std::string_view to_string(error_kind k);

/// True if the failure counts against the backend's health.
constexpr bool is_backend_fault(error_kind k) {
  return k == error_kind::unavailable || k == error_kind::failed
         || k == error_kind::timeout || k == error_kind::corrupt;
}

struct backend_error {
  error_kind kind = error_kind::failed;
  std::string message;
};

/// Either a T or a backend_error, like std::expected (C++23).
template <class T>
class expected {
public:
  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  expected(backend_error err) : v_(std::in_place_index<1>, std::move(err)) {}

  explicit operator bool() const { return v_.index() == 0; }
  bool has_value() const { return v_.index() == 0; }

  T& value() & { assert(has_value()); return std::get<0>(v_); }
  const T& value() const& { assert(has_value()); return std::get<0>(v_); }
  T&& value() && { assert(has_value()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const backend_error& error() const { assert(!has_value()); return std::get<1>(v_); }

private:
  std::variant<T, backend_error> v_;
};

/// The value-less case: success or a backend_error.
template <>
class expected<void> {
public:
  expected() = default;
  expected(backend_error err) : err_(std::move(err)), ok_(false) {}

  explicit operator bool() const { return ok_; }
  bool has_value() const { return ok_; }
  const backend_error& error() const { assert(!ok_); return err_; }

private:
  backend_error err_;
  bool ok_ = true;
};

inline backend_error make_backend_error(error_kind k, std::string msg) {
  return backend_error{k, std::move(msg)};
}

} // namespace lifeline
