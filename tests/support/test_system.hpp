// Deterministic actor tests inside Catch2: CAF's testing scheduler runs every
// ready actor on the test's thread and moves time only when told to.
#pragma once

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <chrono>
#include <memory>
#include <optional>

namespace lifeline::testing {

class test_system {
public:
  test_system();
  ~test_system();

  caf::actor_system& sys() { return *sys_; }
  caf::scheduler::test_coordinator& sched() { return *sched_; }

  /// Runs every actor until no message is left.
  void run() { sched_->run(); }

  /// Moves the clock (firing timers and request timeouts), then runs.
  void advance(std::chrono::nanoseconds d) {
    sched_->advance_time(d);
    run();
  }

  /// A request sent from the test; its reply is read after running.
  template <class Reply>
  class pending {
  public:
    explicit pending(std::shared_ptr<caf::scoped_actor> self) : self_(std::move(self)) {}

    /// The reply or error if it has arrived; nullopt otherwise.
    std::optional<caf::expected<Reply>> poll() {
      std::optional<caf::expected<Reply>> out;
      (*self_)->receive(
        [&](Reply& r) { out = caf::expected<Reply>{std::move(r)}; },
        [&](caf::error& e) { out = caf::expected<Reply>{std::move(e)}; },
        caf::after(std::chrono::seconds(0)) >> [] {});
      return out;
    }

  private:
    std::shared_ptr<caf::scoped_actor> self_;
  };

  /// Sends a request without running anything.
  template <class Reply, class Handle, class... Ts>
  pending<Reply> send(const Handle& h, Ts&&... xs) {
    auto self = std::make_shared<caf::scoped_actor>(*sys_);
    (*self)->send(h, std::forward<Ts>(xs)...);
    return pending<Reply>{self};
  }

  /// Sends a request, runs until idle and returns the reply (an error
  /// `sec::request_timeout` if none arrived: a missing reply never hangs).
  template <class Reply, class Handle, class... Ts>
  caf::expected<Reply> ask(const Handle& h, Ts&&... xs) {
    auto p = send<Reply>(h, std::forward<Ts>(xs)...);
    run();
    if (auto r = p.poll()) return std::move(*r);
    return caf::make_error(caf::sec::request_timeout, "no reply after running to idle");
  }

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
};

} // namespace lifeline::testing
