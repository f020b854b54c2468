// Why: libpq blocks in poll()/recv() until the server answers, and a frozen
// server (SIGSTOP, a hung host, a stalled disk) never does: statement_timeout
// is enforced by the frozen server itself, and keepalives and
// tcp_user_timeout are answered or acknowledged by its still-running kernel.
// Nothing on the client side would bound a call, so a worker thread would be
// lost for as long as the server stays frozen.
//
// The watchdog bounds each call from outside: a call registers its
// connection's socket with a deadline for as long as it runs; when the
// deadline passes first, the watchdog shuts the socket down
// (shutdown(SHUT_RDWR), which wakes the blocked poll/recv at once: libpq
// sees the connection closed and libpqxx throws broken_connection). The
// watchdog shuts down a dup() of the socket that it owns, never libpq's
// descriptor number, so a descriptor that libpq closed and the process
// reused meanwhile is never touched. One thread per backend, no CAF.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

namespace lifeline {

class postgres_watchdog {
public:
  using clock = std::chrono::steady_clock;

  postgres_watchdog();
  ~postgres_watchdog(); ///< Stops and joins the thread.
  postgres_watchdog(const postgres_watchdog&) = delete;
  postgres_watchdog& operator=(const postgres_watchdog&) = delete;

  class watch;

  /// Watches `socket_fd` until the returned watch is released or destroyed;
  /// shuts it down if `deadline` passes first. A watch that could not
  /// duplicate the descriptor (no descriptors left) is not armed: armed()
  /// says so.
  watch guard(int socket_fd, clock::time_point deadline);

  /// How many sockets the watchdog has shut down so far.
  uint64_t fired() const;

private:
  struct entry {
    int fd;              ///< Our own dup() of the socket; closed on release.
    bool fired = false;  ///< The deadline passed and the socket was shut down.
  };
  using table = std::multimap<clock::time_point, entry>;

  void run();
  bool release(table::iterator it);

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  table watched_; ///< By deadline, earliest first.
  uint64_t fired_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

/// One registration. Release it (or let it go out of scope) before the
/// connection goes back to the pool or is destroyed.
class postgres_watchdog::watch {
public:
  watch() = default;
  watch(watch&& other) noexcept { *this = std::move(other); }
  watch& operator=(watch&& other) noexcept;
  ~watch() { release(); }

  bool armed() const { return owner_ != nullptr; }
  /// Ends the registration. True if the deadline passed first and the
  /// socket was shut down (the connection is unusable: drop it).
  bool release();

private:
  friend class postgres_watchdog;
  watch(postgres_watchdog* owner, table::iterator it) : owner_(owner), it_(it) {}

  postgres_watchdog* owner_ = nullptr;
  table::iterator it_{};
  bool fired_ = false; ///< Kept after release, so release() may be asked twice.
};

} // namespace lifeline
