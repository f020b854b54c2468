#include "backends/postgres_watchdog.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace lifeline {

postgres_watchdog::postgres_watchdog() : thread_([this] { run(); }) {}

postgres_watchdog::~postgres_watchdog() {
  {
    std::lock_guard guard{mutex_};
    stopping_ = true;
  }
  changed_.notify_one();
  thread_.join();
}

postgres_watchdog::watch postgres_watchdog::guard(int socket_fd, clock::time_point deadline) {
  int own = socket_fd < 0 ? -1 : ::dup(socket_fd);
  if (own < 0) return {};
  std::unique_lock guard{mutex_};
  bool earliest = watched_.empty() || deadline < watched_.begin()->first;
  auto it = watched_.emplace(deadline, entry{own});
  guard.unlock();
  // Only a new earliest deadline changes when the thread must wake up.
  if (earliest) changed_.notify_one();
  return watch{this, it};
}

uint64_t postgres_watchdog::fired() const {
  std::lock_guard guard{mutex_};
  return fired_;
}

bool postgres_watchdog::release(table::iterator it) {
  int fd;
  bool fired;
  {
    // The thread shuts sockets down under this lock, so once the entry is
    // gone it can no longer touch the descriptor we close below.
    std::lock_guard guard{mutex_};
    fd = it->second.fd;
    fired = it->second.fired;
    watched_.erase(it);
  }
  ::close(fd);
  return fired;
}

void postgres_watchdog::run() {
  std::unique_lock guard{mutex_};
  while (!stopping_) {
    auto now = clock::now();
    for (auto& [deadline, e] : watched_) {
      if (deadline > now) break;
      if (e.fired) continue;
      // Not close(): the caller still owns the connection. shutdown() ends
      // the TCP connection under every descriptor of it, libpq's included.
      ::shutdown(e.fd, SHUT_RDWR);
      e.fired = true;
      ++fired_;
    }
    // Wait for the first deadline not yet fired (or for a new earlier one).
    auto next = watched_.begin();
    while (next != watched_.end() && next->second.fired) ++next;
    if (next == watched_.end()) {
      changed_.wait(guard);
    } else {
      // A copy: wait_until reads its deadline again after waking, and the
      // entry may have been released (erased) while the lock was free.
      auto until = next->first;
      changed_.wait_until(guard, until);
    }
  }
}

postgres_watchdog::watch& postgres_watchdog::watch::operator=(watch&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    it_ = other.it_;
    fired_ = other.fired_;
  }
  return *this;
}

bool postgres_watchdog::watch::release() {
  if (owner_) fired_ = std::exchange(owner_, nullptr)->release(it_);
  return fired_;
}

} // namespace lifeline
