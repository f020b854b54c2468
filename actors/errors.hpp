// Lifeline's error codes (core/errors.hpp), registered with CAF so they
// travel inside caf::error. Every failure a caller can see is one of these.
#pragma once

#include "core/errors.hpp"

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lifeline {

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
