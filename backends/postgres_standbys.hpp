// The hot standbys of a postgres backend's primary (issue 15), private to
// postgres_backend.cpp. A standby serves a read only once it has replayed
// every write acknowledged through this backend: the backend records the
// primary's WAL position after each committed write (acknowledged()), and a
// standby qualifies while pg_last_wal_replay_lsn() is at or past it. That is
// the causal-read guarantee PostgreSQL's own tools do not give: a standby
// never answers with data older than an acknowledged write, not even a 404
// for a document written a moment ago. Until the primary has been reached
// once, no position is known and no standby serves (safe, never stale).
// A monitor thread refreshes each standby's position and lag every second,
// so reads rarely ask; a standby is never written to. No CAF in here.
#pragma once

#include "backends/backend.hpp"
#include "backends/postgres_backend.hpp"
#include "backends/postgres_pool.hpp"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lifeline {

/// "16/B374D848" as a number; nullopt for anything else (NULL included).
std::optional<uint64_t> parse_lsn(const std::string& text);

/// "00000002" (a WAL file name's timeline part) as a number; 0 if not hex.
uint32_t parse_timeline(const std::string& text);

/// "host:port" of a libpq connection string ("?" for what it leaves out).
std::string postgres_endpoint(const std::string& dsn);

class postgres_standbys {
public:
  explicit postgres_standbys(const postgres_config& cfg);
  ~postgres_standbys();
  postgres_standbys(const postgres_standbys&) = delete;
  postgres_standbys& operator=(const postgres_standbys&) = delete;

  /// A write was acknowledged with the primary at `lsn` on `timeline`:
  /// standbys serve only once they have replayed that far. A newer timeline
  /// restarts the bar there (positions of the old one mean nothing on it),
  /// and from then on a standby serves only once it shows that it follows
  /// the new timeline. An older timeline (a stale primary) is ignored.
  void acknowledged(uint64_t lsn, uint32_t timeline);

  /// Runs `f(pqxx::connection&)` on a standby that holds every acknowledged
  /// write, the next one in turn first. A standby's answer is final (a
  /// not_found too: it holds every acknowledged write); when none can serve,
  /// backend_unavailable names each standby and why (how far behind).
  template <class T, class F>
  expected<T> read(F&& f);

  /// Whether some standby would serve a read now (asks each: for probes).
  expected<void> serving();

  std::vector<standby_status> status() const;

private:
  struct standby {
    std::string name;
    std::unique_ptr<postgres_pool> pool;
    /// Replay position last seen (the latest reading, not the largest: a
    /// rewound standby goes back); 0 after a failed or non-standby reading.
    std::atomic<uint64_t> replayed{0};
    /// The timeline its WAL receiver last reported (0: none seen yet).
    std::atomic<uint32_t> followed{0};
    std::atomic<uint64_t> reads{0};
    std::atomic<uint64_t> refused{0};
    mutable std::mutex mutex;          ///< Guards the fields below.
    bool reachable = false;
    double replay_age_s = -1;          ///< now() - pg_last_xact_replay_timestamp()
    std::string error;
  };

  /// Whether `s` has replayed every acknowledged write; asks it when its
  /// last seen position is behind. The error says why not.
  expected<void> ready(standby& s);
  /// Asks `s` for its replay position (and lag), updating what is kept.
  expected<uint64_t> refresh(standby& s);
  void monitor();

  struct bar {
    uint64_t acked = 0;     ///< 0: unknown yet.
    uint32_t timeline = 0;  ///< The primary's, as of the last acknowledgement.
    bool moved = false;     ///< The timeline changed since the start.
  };
  bar bar_now() const;

  std::vector<std::unique_ptr<standby>> list_;
  mutable std::mutex bar_mutex_;
  bar bar_;
  std::atomic<uint32_t> next_{0};
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread monitor_; ///< Last: started once the rest is in place.
};

template <class T, class F>
expected<T> postgres_standbys::read(F&& f) {
  std::string why;
  auto n = list_.size();
  auto first = next_.fetch_add(1, std::memory_order_relaxed);
  for (size_t k = 0; k < n; ++k) {
    auto& s = *list_[(first + k) % n];
    auto ok = ready(s);
    if (!ok) {
      why += (why.empty() ? "" : "; ") + ok.error().message;
      continue;
    }
    auto r = s.pool->template call<T>(f);
    if (r || (r.error().kind != errc::backend_unavailable && r.error().kind != errc::timeout)) {
      if (r) s.reads.fetch_add(1, std::memory_order_relaxed);
      return r;
    }
    why += (why.empty() ? "standby " : "; standby ") + s.name + ": " + r.error().message;
  }
  return backend_error{errc::backend_unavailable, why};
}

} // namespace lifeline
