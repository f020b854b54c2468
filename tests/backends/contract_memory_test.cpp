// The backend contract (contract/*_cases.cpp) against the in-process store:
// a new memory_backend for every case.
#include "backends/memory_backend.hpp"
#include "contract/contract.hpp"

using namespace lifeline;
using namespace lifeline::testing::contract;

LIFELINE_CONTRACT("memory", [] {
  return std::make_unique<owning_fixture<memory_backend>>(std::make_unique<memory_backend>());
});
