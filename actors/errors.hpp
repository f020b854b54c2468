// Lifeline's error codes, registered with CAF so they travel inside
// caf::error. Every failure a caller can see is one of these.
#pragma once

#include "backends/expected.hpp"

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
  /// One backend failed at the connection level or crashed.
  backend_unavailable,
  /// One backend failed for another reason (a server-side error).
  backend_error,
  /// One backend returned data that failed an invariant check.
  corrupt_response,
  /// The request's deadline passed.
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

std::string to_string(errc x);

/// Maps a backend's error onto the error code callers see.
errc to_errc(error_kind kind);

/// Builds a caf::error from a backend's error (context: the message).
caf::error make_error(const backend_error& err);

/// True for errors that are the caller's fault (not_found, invalid_argument,
/// conflict, unsupported): an answer, not a backend failure.
bool is_client_error(const caf::error& err);

/// What the outage error carries: for each backend, its name and why it
/// could not serve.
struct outage_details {
  std::string operation;
  std::vector<std::string> backends;
  std::vector<std::string> reasons;
};

caf::error make_outage_error(const outage_details& details);

/// The details of an all_backends_unavailable error, if `err` is one.
std::optional<outage_details> outage_of(const caf::error& err);

/// True if `err` carries the lifeline error code `code`.
bool is(const caf::error& err, errc code);

/// One line for logs and API replies: "lifeline.timeout: detail" or CAF's
/// rendering for system errors.
std::string describe(const caf::error& err);

} // namespace lifeline

CAF_ERROR_CODE_ENUM(lifeline::errc, "lifeline")
