// The names of the error codes, next to the enum's values.
#include "core/errors.hpp"

namespace lifeline {

std::string_view name_of(errc x) {
  switch (x) {
    case errc::not_found: return "not_found";
    case errc::invalid_argument: return "invalid_argument";
    case errc::conflict: return "conflict";
    case errc::unsupported: return "unsupported";
    case errc::backend_unavailable: return "backend_unavailable";
    case errc::backend_error: return "backend_error";
    case errc::corrupt_response: return "corrupt_response";
    case errc::timeout: return "timeout";
    case errc::all_backends_unavailable: return "all_backends_unavailable";
    case errc::not_durable: return "not_durable";
    case errc::corrupt_document: return "corrupt_document";
    case errc::overloaded: return "overloaded";
  }
  return "unknown";
}

std::string to_string(errc x) {
  return std::string{name_of(x)};
}

} // namespace lifeline
