// The contract for input: every kind refuses the same bad input as
// invalid_argument before touching its store (a refused batch leaves
// nothing behind), and stores whatever it accepts byte for byte; poison
// vectors (issue 11) are refused or stored and served finite.
#include "contract.hpp"
#include "helpers.hpp"
#include "poison_vectors.hpp"
#include "support/vectors.hpp"

#include "core/validation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace lifeline;
using namespace lifeline::testing;
using namespace lifeline::testing::contract;

LIFELINE_CONTRACT_CASE("bad input is refused whole and loses nothing", "[validation]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  REQUIRE(store.upsert("c", {doc("keep", {1, 1})}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto invalid = [](const auto& r) { return !r && r.error().kind == errc::invalid_argument; };
  // A batch with one bad document is refused whole.
  CHECK(invalid(store.upsert("c", {doc("ok", {1, 2}), doc("bad", {nan, 1})})));
  CHECK(invalid(store.upsert("c", {doc("inf", {inf, 1})})));
  // Finite but so large that a distance would overflow to inf.
  CHECK(invalid(store.upsert("c", {doc("huge", {1e20f, 1})})));
  CHECK(invalid(store.upsert("c", {doc("short", {1})})));
  CHECK(invalid(store.upsert("c", {doc("long", {1, 2, 3})})));
  // Ids: empty, NUL, too long, a control character, not UTF-8.
  CHECK(invalid(store.upsert("c", {{"", {1, 2}, "", "", 0}})));
  CHECK(invalid(store.upsert("c", {{std::string("a\0b", 3), {1, 2}, "", "", 0}})));
  CHECK(invalid(store.upsert("c", {{std::string(max_id_bytes + 1, 'x'), {1, 2}, "", "", 0}})));
  CHECK(invalid(store.upsert("c", {{std::string(5000, 'x'), {1, 2}, "", "", 0}})));
  CHECK(invalid(store.upsert("c", {{"bell\x07", {1, 2}, "", "", 0}})));
  CHECK(invalid(store.upsert("c", {{"\xff", {1, 2}, "", "", 0}})));
  // Metadata that is not one JSON object; content that is not UTF-8 text.
  CHECK(invalid(store.upsert("c", {{"m", {1, 2}, "", "not json", 0}})));
  CHECK(invalid(store.upsert("c", {{"m", {1, 2}, "", "{not json}", 0}})));
  CHECK(invalid(store.upsert("c", {{"m", {1, 2}, "", "[1, 2]", 0}})));
  CHECK(invalid(store.upsert("c", {{"t", {1, 2}, "\xff\xfe", "", 0}})));
  CHECK(invalid(store.upsert("c", {{"t", {1, 2}, "\xc3", "", 0}})));
  CHECK(invalid(store.upsert("c", {{"t", {1, 2}, std::string("a\0b", 3), "", 0}})));
  CHECK(invalid(store.upsert("c", {{"t", {1, 2}, std::string(max_content_bytes + 1, 'x'), "", 0}})));
  CHECK(invalid(store.upsert(
    "c", {{"m", {1, 2}, "", "{\"k\":\"" + std::string(max_metadata_bytes, 'x') + "\"}", 0}})));
  // Nothing of the refused batches was stored.
  CHECK(store.collection_stats("c")->count == 1);
  CHECK(error_of(store.get("c", "ok")) == errc::not_found);
  CHECK(ids_of(*store.scan({"c", "", 10, false})) == std::vector<std::string>{"keep"});
  // Reads check their input the same way.
  CHECK(invalid(store.get("c", "")));
  CHECK(invalid(store.get("c", std::string("a\0b", 3))));
  CHECK(invalid(store.remove("c", "", 1)));
  CHECK(invalid(store.search({"c", {1, 1}, 0, 0})));
  CHECK(invalid(store.search({"c", {1, 1}, max_k + 1, 0})));
  CHECK(invalid(store.search({"c", {1, 2}, 1u << 30, 0})));
  CHECK(invalid(store.search({"c", {nan, 1}, 1, 0})));
  CHECK(invalid(store.search({"c", {-1e20f, 1}, 1, 0})));
  CHECK(invalid(store.search({"c", {1}, 10, 0})));
  CHECK(invalid(store.search({"c", {1, 2}, 10, max_ef + 1})));
  CHECK(invalid(store.search({"c", {1, 2}, 10, 1u << 30})));
  CHECK(store.search({"c", {1, 2}, max_k, max_ef})->size() == 1);
}

LIFELINE_CONTRACT_CASE("hostile ids and payloads come back byte for byte", "[validation]") {
  REQUIRE(create(store, {"c", 2, metric::l2}));
  for (const std::string& id : std::vector<std::string>{
         "'; DROP TABLE lifeline_documents; --", "back\\slash", "quote\"d", "\xc3\xa9'\"\\ \xe2\x9c\x93",
         "\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 \xe2\x9c\x93", "%_*?", std::string(max_id_bytes, 'x')}) {
    REQUIRE(store.upsert("c", {{id, {1, 2}, id, "", 0}}));
    auto got = store.get("c", id);
    REQUIRE(got);
    CHECK(got->id == id);
    CHECK(got->content == id);
  }
  CHECK(store.collection_stats("c")->count == 7);
  std::vector<std::string> metadata{
    R"({"b":1,"a":2})",                        // key order kept
    R"({ "spaced" :  [ 1 ,2 ] })",             // whitespace kept
    R"({"q":"it's \"quoted\" \\ back\\slash"})",
    R"({"u":"\u00e9 é ✓ \ud834\udd1e"})",
    R"({"deep":{"deeper":{"deepest":[{"x":null}]}}})",
    "{\"long\":\"" + std::string(60000, 'z') + "\"}",
  };
  for (size_t i = 0; i < metadata.size(); ++i) {
    document d{"m" + std::to_string(i), {float(i), 1}, "line1\nline2\t\"x\" \xc3\xa9", metadata[i], 0};
    REQUIRE(store.upsert("c", {d}));
    auto got = store.get("c", d.id);
    REQUIRE(got);
    CHECK(got->metadata == metadata[i]);
    CHECK(got->content == d.content);
    // The id just before it: "m" and the digit before i.
    auto page = store.scan({"c", std::string("m") + char('0' + int(i) - 1), 1, true});
    REQUIRE(page);
    REQUIRE(page->size() == 1);
    CHECK(page->front() == *got);
  }
  document big{"big", {1, 1}, std::string(max_content_bytes, 'c'), "", 1};
  REQUIRE(store.upsert("c", {big}));
  CHECK(*store.get("c", "big") == big);
}

LIFELINE_CONTRACT_CASE("poison vectors are refused or stored and served finite, in every metric",
                       "[validation][values]") {
  int n = 0;
  for (auto m : {metric::l2, metric::ip, metric::cosine}) {
    for (auto& p : poisons()) {
      INFO(to_string(m) << ": " << p.name);
      auto c = "poison_" + std::string{to_string(m)} + "_" + std::to_string(n++);
      REQUIRE(create(store, {c, 2, m}));
      REQUIRE(store.upsert(c, {{"ok", {1, 2}, "", "", 1}}));
      auto put = store.upsert(c, {{"p", p.vector, "", "", 1}});
      if (!p.accepted) {
        CHECK(error_of(put) == errc::invalid_argument);
        CHECK(error_of(store.search({c, p.vector, 2, 0})) == errc::invalid_argument);
        CHECK(error_of(store.get(c, "p")) == errc::not_found);
        continue;
      }
      REQUIRE(put);
      auto got = store.get(c, "p");
      REQUIRE(got);
      CHECK(all_finite(got->vector));
      if (m == metric::cosine && norm(p.vector) > 0)
        CHECK(norm(got->vector) == Approx(1.0).epsilon(1e-6));
      else
        CHECK(got->vector == p.vector);
      for (auto& q : {p.vector, std::vector<float>{0.5f, -1}}) {
        auto hits = store.search({c, q, 10, 0});
        REQUIRE(hits);
        REQUIRE(hits->size() == 2);
        for (auto& h : *hits) CHECK(std::isfinite(h.distance));
        CHECK(hits->at(0).distance <= hits->at(1).distance);
      }
    }
  }
}

LIFELINE_CONTRACT_CASE("distances stay finite at the largest dimension and component",
                       "[validation][values]") {
  for (auto m : {metric::l2, metric::ip, metric::cosine}) {
    INFO(to_string(m));
    auto c = "max_" + std::string{to_string(m)};
    REQUIRE(create(store, {c, max_dimension, m}));
    REQUIRE(store.upsert(c, {{"plus", filled(max_component), "", "", 1},
                             {"minus", filled(-max_component), "", "", 1}}));
    for (float sign : {1.f, -1.f}) {
      auto hits = store.search({c, filled(sign * max_component), 2, 0});
      REQUIRE(hits);
      REQUIRE(hits->size() == 2);
      for (auto& h : *hits) CHECK(std::isfinite(h.distance));
      CHECK(hits->at(0).id == (sign > 0 ? "plus" : "minus"));
    }
    auto got = store.get(c, "plus");
    REQUIRE(got);
    CHECK(all_finite(got->vector));
  }
}
