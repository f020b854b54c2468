// A blocking request from a scoped actor, for tests on real threads (the
// deterministic test system has its own ask, see test_system.hpp). The
// wait is bounded: a reply that never comes fails the test after 60 s
// instead of hanging it.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <utility>

namespace lifeline::testing {

template <class Reply, class Handle, class... Ts>
caf::expected<Reply> ask(caf::scoped_actor& self, const Handle& h, Ts&&... xs) {
  caf::expected<Reply> out = caf::make_error(caf::sec::request_timeout);
  self->request(h, std::chrono::seconds(60), std::forward<Ts>(xs)...)
    .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

} // namespace lifeline::testing
