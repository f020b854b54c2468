// Lifeline's one error vocabulary. Every failure a backend reports and every
// failure a caller sees is one `errc`; the actor layer registers the same
// enum with CAF (actors/errors.hpp) so it travels inside caf::error without
// a translation table. Setup problems an operator must fix (a bad
// configuration file, an address that cannot be bound) are a separate type,
// config_error: they never reach a backend or a request. No CAF in here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lifeline {

enum class errc : uint8_t {
  /// The collection or document does not exist.
  not_found = 1,
  /// The request is malformed: bad dimension, NaN, empty id, k out of range.
  invalid_argument,
  /// E.g. a collection exists with a different spec.
  conflict,
  /// No configured backend implements the operation.
  unsupported,
  /// One backend failed at the connection level (refused, reset, not
  /// connected) or crashed.
  backend_unavailable,
  /// One backend failed for another reason (a server-side error).
  backend_error,
  /// One backend returned data that failed an invariant check.
  corrupt_response,
  /// The request's deadline passed, or a backend gave up waiting on its store.
  timeout,
  /// No capable backend is left: the outage error (HTTP 503). Its context
  /// names every backend and its last failure; see outage_details.
  all_backends_unavailable,
  /// A write could not be made durable for every backend (the handoff log
  /// of one that missed it could not be written, e.g. the disk is full): it
  /// is not acknowledged (HTTP 503). Retrying it is safe.
  not_durable,
  /// One stored document failed an invariant check on read (e.g. a vector
  /// with a non-finite component, written by an older version): that
  /// document's fault, not the backend's. Context names the collection and
  /// the document. The coordinator tries the next backend (it may hold a
  /// good copy) without counting it against this one's circuit; if none has
  /// one, the caller gets this error (HTTP 500: retrying will not help).
  corrupt_document,
  /// Every backend that could serve the request is at its bound of calls in
  /// flight (coordinator_config::backend_max_in_flight), or a write would
  /// have to reach one that is: shed at once, nothing applied (HTTP 503
  /// with Retry-After). Retrying later is safe.
  overloaded,
};

/// The code's name, e.g. "not_found" (log lines, API replies, CAF's rendering).
std::string_view name_of(errc x);
std::string to_string(errc x);

/// True if a backend failing with this code says something about the
/// backend's health (it counts against its circuit); false for answers about
/// the request (not_found, invalid_argument, conflict, unsupported) and for a
/// damaged document.
constexpr bool is_backend_fault(errc k) {
  return k == errc::backend_unavailable || k == errc::backend_error || k == errc::timeout
         || k == errc::corrupt_response;
}

/// Why a backend call failed.
struct backend_error {
  errc kind = errc::backend_error;
  std::string message;
};

inline backend_error make_backend_error(errc k, std::string msg) {
  return backend_error{k, std::move(msg)};
}

/// A setup problem an operator must fix: a configuration file that does not
/// parse or holds a bad value, a listen address that cannot be bound.
struct config_error {
  std::string message;
};

} // namespace lifeline
