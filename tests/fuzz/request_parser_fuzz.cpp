// Why: the request parsers (api/request_parser.hpp) are the first code that
// touches what a client sends: every route's path and every JSON body goes
// through them before anything reaches the coordinator or a backend. They
// must refuse bad input with bad_request (a 400 or 413 problem reply), never
// crash, throw anything else, or let through a value that breaks the rules
// the backends rely on (a non-finite vector component, an invalid name).
//
// Input: the whole input is given to every parser in turn: as the target of
// parse_route, as the body of parse_collection_body, parse_document_body,
// parse_batch_body (at most 4 documents) and parse_search_body, and as a
// method to method_label / allows.
#include "api/request_parser.hpp"
#include "core/validation.hpp"
#include "fuzz/fuzz_support.hpp"

#include <cmath>

using namespace lifeline;
using namespace lifeline::api;
using lifeline::fuzz::fail;

namespace {

constexpr size_t max_batch = 4;

void check_vector(const std::vector<float>& v, const char* what) {
  for (float x : v)
    if (!std::isfinite(x)) fail(std::string{what} + " holds a non-finite component");
}

template <class F>
void refused_or_ok(const char* what, F&& f) {
  try {
    f();
  } catch (const bad_request& e) {
    if (e.status != 400 && e.status != 413)
      fail(std::string{what} + " refused with status " + std::to_string(e.status));
    if (e.detail.empty()) fail(std::string{what} + " refused without a detail");
  }
  // Anything else thrown escapes: libFuzzer reports it as a crash.
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};

  refused_or_ok("parse_route", [&] {
    auto r = parse_route(in);
    if (!r) return;
    if (template_of(r->kind).empty()) fail("a route without a template");
    if (allowed_methods(r->kind).empty()) fail("a route that allows no method");
    if (!r->collection.empty() && !validate_collection_name(r->collection))
      fail("parse_route let an invalid collection name through");
    if (r->kind == route_kind::document && !validate_id(r->id))
      fail("parse_route let an invalid document id through");
    (void)allows(r->kind, in);
  });
  auto label = method_label(in);
  if (label.empty()) fail("an empty method label");

  refused_or_ok("parse_collection_body", [&] {
    auto spec = parse_collection_body(in, "c");
    if (spec.name != "c") fail("parse_collection_body changed the name");
    if (auto ok = validate_spec(spec); !ok)
      fail("parse_collection_body let an invalid spec through: " + ok.error().message);
  });
  refused_or_ok("parse_document_body", [&] {
    auto d = parse_document_body(in, "id");
    if (d.id != "id") fail("parse_document_body changed the id");
    check_vector(d.vector, "a parsed document's vector");
  });
  refused_or_ok("parse_batch_body", [&] {
    auto docs = parse_batch_body(in, max_batch);
    if (docs.size() > max_batch) fail("parse_batch_body let a batch over max_batch through");
    for (auto& d : docs) check_vector(d.vector, "a parsed batch document's vector");
  });
  refused_or_ok("parse_search_body", [&] {
    auto q = parse_search_body(in, "c");
    if (q.collection != "c") fail("parse_search_body changed the collection");
    check_vector(q.vector, "a parsed query vector");
  });
  return 0;
}
