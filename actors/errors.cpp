#include "actors/errors.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>
#include <caf/to_string.hpp>

namespace lifeline {

namespace {

const caf::atom_value category = caf::atom("lifeline");

} // namespace

caf::error make_error(const backend_error& err) {
  return caf::error{err.kind, err.message};
}

bool is(const caf::error& err, errc code) {
  return err && err.category() == category && err.code() == static_cast<uint8_t>(code);
}

bool is_client_error(const caf::error& err) {
  return is(err, errc::not_found) || is(err, errc::invalid_argument) || is(err, errc::conflict)
         || is(err, errc::unsupported);
}

caf::error make_outage_error(const outage_details& d) {
  return caf::error{errc::all_backends_unavailable, d.operation, d.backends, d.reasons};
}

std::optional<outage_details> outage_of(const caf::error& err) {
  if (!is(err, errc::all_backends_unavailable)) return std::nullopt;
  auto& ctx = err.context();
  if (!ctx.match_elements<std::string, std::vector<std::string>, std::vector<std::string>>())
    return std::nullopt;
  return outage_details{ctx.get_as<std::string>(0), ctx.get_as<std::vector<std::string>>(1),
                        ctx.get_as<std::vector<std::string>>(2)};
}

std::string describe(const caf::error& err) {
  if (!err) return "no error";
  if (err.category() != category) return caf::to_string(err);
  std::string out = "lifeline." + to_string(static_cast<errc>(err.code()));
  if (auto outage = outage_of(err)) {
    out += ": no backend can serve " + outage->operation;
    for (size_t i = 0; i < outage->backends.size(); ++i)
      out += (i == 0 ? " (" : "; ") + outage->backends[i] + ": " + outage->reasons[i];
    if (!outage->backends.empty()) out += ")";
    return out;
  }
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>()) out += ": " + ctx.get_as<std::string>(0);
  return out;
}

} // namespace lifeline
