// The backend contract (issue 13, after Zeek Broker's meta backend test):
// one set of Catch2 cases, written once against `lifeline::backend`, run
// against every backend kind. A kind joins by one line,
//
//   LIFELINE_CONTRACT("memory", make_memory_fixture);
//
// which registers every case as "contract: memory: <what>" with the tags
// [contract][memory]. Cases are written with LIFELINE_CONTRACT_CASE in the
// *_cases.cpp files next to this one. Kinds and cases register themselves
// during static initialisation in any order: whichever comes second is
// crossed with everything registered before it.
//
// Behaviour of one kind only (durability, pooling, schema) stays in that
// kind's own test file.
#pragma once

#include "backends/backend.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <functional>
#include <memory>

namespace lifeline::testing::contract {

/// A fresh, empty backend of one kind and whatever keeps it alive (a
/// scratch directory, a scratch database). Made anew for every run of a
/// case (every SECTION path), destroyed when the run ends.
class backend_fixture {
public:
  virtual ~backend_fixture() = default;
  virtual lifeline::backend& store() = 0;
};

using fixture_factory = std::function<std::unique_ptr<backend_fixture>()>;
using case_body = void (*)(lifeline::backend& store);

/// Registers every contract case for `kind`; returns true (for a static).
bool register_kind(const char* kind, fixture_factory make);
/// Registers `body` for every kind; returns true (for a static).
bool register_case(const char* what, const char* tags, case_body body, const char* file,
                   std::size_t line);

/// A fixture that owns a backend and nothing else.
template <class Backend>
class owning_fixture final : public backend_fixture {
public:
  explicit owning_fixture(std::unique_ptr<Backend> b) : backend_(std::move(b)) {}
  lifeline::backend& store() override { return *backend_; }

private:
  std::unique_ptr<Backend> backend_;
};

} // namespace lifeline::testing::contract

/// One line per backend kind: every contract case, run against backends
/// that `factory` (a fixture_factory) makes.
#define LIFELINE_CONTRACT(kind, factory)                                                      \
  static const bool INTERNAL_CATCH_UNIQUE_NAME(lifeline_contract_kind_) =                    \
    ::lifeline::testing::contract::register_kind(kind, factory)

#define LIFELINE_CONTRACT_CASE_IMPL(fn, what, tags)                                           \
  static void fn(::lifeline::backend& store);                                                \
  static const bool INTERNAL_CATCH_UNIQUE_NAME(lifeline_contract_case_) =                    \
    ::lifeline::testing::contract::register_case(what, tags, &fn, __FILE__, __LINE__);       \
  static void fn([[maybe_unused]] ::lifeline::backend& store)

/// A contract case: `what` becomes "contract: <kind>: <what>" (no ';' in
/// it: ctest would split the name), `tags` are added to [contract][<kind>].
/// The body sees `store`, a fresh empty backend of the kind under test.
#define LIFELINE_CONTRACT_CASE(what, tags)                                                    \
  LIFELINE_CONTRACT_CASE_IMPL(INTERNAL_CATCH_UNIQUE_NAME(lifeline_contract_case_fn_), what, tags)
