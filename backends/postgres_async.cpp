// The event loop of the asynchronous reader. Why poll() and not asio: a
// backend owns at most a handful of sockets plus one eventfd, so one poll()
// over them costs less than asio's per-operation handlers, needs no
// allocation per wait, adds no dependency to lifeline::postgres, and the
// whole loop (wait, read, send, expire) reads top to bottom in one place.
//
// Each connection runs one query at a time (libpq's pipeline mode was left
// out: with coalescing, a busy connection's followers already leave together
// as one query when it answers, and a second query in flight would only
// split them). Deadlines are checked on every turn, and poll() sleeps no
// longer than the earliest one.
#include "backends/postgres_async.hpp"

#include "backends/postgres_async_batch.hpp"
#include "backends/postgres_codec.hpp"
#include "backends/postgres_pool.hpp"
#include "core/log.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>
#include <thread>

namespace lifeline {

using namespace pg_async;

namespace {

struct connection {
  enum class phase { connecting, preparing, idle, querying, closed };
  PGconn* pg = nullptr;
  phase at = phase::connecting;
  bool want_write = true; ///< Poll for writability (connecting, or a send not flushed).
  bool prepared = false;  ///< The statement is prepared (else it is sent as text).
  bool reprepare = false; ///< The schema appeared since: prepare before the next query.
  clock::time_point deadline;
  std::string collection;           ///< Of the query in flight.
  std::vector<pending_get> waiters; ///< Answered by the query in flight.
  PGresult* result = nullptr;       ///< The first result of the query in flight.

  ~connection() { close(); }
  void close() {
    if (result) PQclear(std::exchange(result, nullptr));
    if (pg) PQfinish(std::exchange(pg, nullptr));
    at = phase::closed;
  }
  bool busy() const { return at == phase::preparing || at == phase::querying; }
};

} // namespace

struct postgres_async::loop {
  loop(const postgres_config& config, uint32_t connections)
    : cfg(config),
      // A prepared statement over an array stays on custom plans (its
      // generic plan's estimate is worse), i.e. it is planned again on every
      // execution, which costs more than running it; its generic plan is a
      // nested loop of primary-key probes, the best one for any batch size.
      conninfo(postgres_conninfo(config, "-c plan_cache_mode=force_generic_plan")),
      max_connections(std::max(connections, 1u)) {
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~loop() { ::close(wake_fd); }

  /// The thread holds `self` until run() returns.
  static void start(const std::shared_ptr<loop>& self) {
    self->thread = std::thread([self] { self->run(); });
  }

  /// Stops the thread. Called on the loop thread itself (a completion the
  /// loop dropped held the last reference to the backend), it cannot join
  /// itself: it detaches, and the thread's own reference keeps the loop
  /// alive until run() returns.
  void stop() {
    {
      std::lock_guard guard{mutex};
      stopping = true;
    }
    wake();
    if (thread.get_id() == std::this_thread::get_id()) thread.detach();
    else if (thread.joinable()) thread.join();
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  // -- shared with callers, under `mutex` ------------------------------------------
  std::mutex mutex;
  std::vector<pending_get> incoming;
  bool stopping = false;
  bool held = false;
  std::atomic<uint64_t> gets{0}, queries{0}, ids{0}, abandoned{0}, connects{0};

  // -- the loop thread's own -------------------------------------------------------
  postgres_config cfg;
  std::string conninfo;
  uint32_t max_connections;
  int wake_fd = -1;
  std::deque<pending_get> queue; ///< Waiting for a connection, oldest first.
  std::vector<std::unique_ptr<connection>> connections;
  std::thread thread; ///< Last: starts when the rest is ready.

  void run();
  int poll_timeout_ms() const;
  void advance(connection& c);
  void step_connect(connection& c);
  void send_prepare(connection& c);
  void send_batch(connection& c);
  void flush(connection& c);
  void finish(connection& c);
  void lost(connection& c);
  void connect_failed(connection& c, const std::string& why);
  void start_connect();
  void dispatch();
  void expire();
  void fail_queue(const backend_error& err);
  void shut_down();
};

void postgres_async::loop::run() {
  std::vector<pollfd> fds;
  // Every connection opens at once (they connect in parallel on this
  // loop), so that the first gets do not pay for connects: opened on
  // demand, one at a time, a burst of gets at start queued behind them
  // (p95 27 ms in the first second of the baselines, enough for the
  // latency outlier policy to demote PostgreSQL for gets). Without a server
  // this fails quietly.
  for (size_t i = 0; i < max_connections; ++i) start_connect();
  for (;;) {
    fds.assign(1, pollfd{wake_fd, POLLIN, 0});
    for (auto& c : connections) {
      short events = c->at == connection::phase::connecting
                       ? (c->want_write ? POLLOUT : POLLIN)
                       : short(POLLIN | (c->want_write ? POLLOUT : 0));
      fds.push_back(pollfd{PQsocket(c->pg), events, 0});
    }
    if (::poll(fds.data(), fds.size(), poll_timeout_ms()) < 0 && errno != EINTR)
      log().error("postgres: poll failed: {}", std::strerror(errno));
    if (fds[0].revents) {
      uint64_t n;
      [[maybe_unused]] auto r = ::read(wake_fd, &n, sizeof n);
    }
    bool hold_now;
    {
      std::lock_guard guard{mutex};
      for (auto& g : incoming) queue.push_back(std::move(g));
      incoming.clear();
      if (stopping) break;
      hold_now = held;
    }
    for (size_t i = 0; i + 1 < fds.size(); ++i)
      if (fds[i + 1].revents && connections[i]->at != connection::phase::closed)
        advance(*connections[i]);
    expire();
    if (!hold_now) dispatch();
    std::erase_if(connections, [](auto& c) { return c->at == connection::phase::closed; });
  }
  shut_down();
}

int postgres_async::loop::poll_timeout_ms() const {
  auto earliest = clock::time_point::max();
  for (auto& c : connections)
    if (c->at != connection::phase::idle) earliest = std::min(earliest, c->deadline);
  if (!queue.empty()) earliest = std::min(earliest, queue.front().deadline);
  if (earliest == clock::time_point::max()) return -1; // the eventfd wakes us
  auto left = std::chrono::ceil<std::chrono::milliseconds>(earliest - clock::now()).count();
  return int(std::clamp<int64_t>(left, 0, 60'000));
}

void postgres_async::loop::advance(connection& c) {
  if (c.at == connection::phase::connecting) return step_connect(c);
  if (c.want_write) flush(c);
  if (c.at == connection::phase::closed) return;
  if (!PQconsumeInput(c.pg) || PQstatus(c.pg) == CONNECTION_BAD) return lost(c);
  if (c.at == connection::phase::idle) {
    // Nothing asked: only a notice or the server's goodbye can arrive.
    while (!PQisBusy(c.pg))
      if (auto* r = PQgetResult(c.pg)) PQclear(r);
      else break;
    return;
  }
  while (!PQisBusy(c.pg)) {
    auto* r = PQgetResult(c.pg);
    if (!r) return finish(c);
    if (!c.result) c.result = r;
    else PQclear(r);
  }
}

void postgres_async::loop::step_connect(connection& c) {
  switch (PQconnectPoll(c.pg)) {
    case PGRES_POLLING_READING: c.want_write = false; return;
    case PGRES_POLLING_WRITING: c.want_write = true; return;
    case PGRES_POLLING_OK:
      if (PQsetnonblocking(c.pg, 1) != 0) return lost(c);
      // The server's notices (e.g. its shutdown warning) go to our log, not stderr.
      PQsetNoticeProcessor(
        c.pg, [](void*, const char* text) { log().info("postgres: {}", trimmed(text)); }, nullptr);
      return send_prepare(c);
    default: return connect_failed(c, trimmed(PQerrorMessage(c.pg)));
  }
}

void postgres_async::loop::send_prepare(connection& c) {
  c.reprepare = false;
  if (!PQsendPrepare(c.pg, statement_name, statement_sql, 2, nullptr)) return lost(c);
  c.at = connection::phase::preparing;
  c.deadline = clock::now() + cfg.call_bound();
  flush(c);
}

void postgres_async::loop::send_batch(connection& c) {
  // The oldest get's collection, with every other queued get for it: at
  // most max_batch distinct ids; a repeated id rides along for free.
  c.collection = queue.front().collection;
  std::vector<std::string> distinct;
  std::deque<pending_get> rest;
  for (auto& g : queue) {
    bool known = std::find(distinct.begin(), distinct.end(), g.id) != distinct.end();
    if (g.collection == c.collection && (known || distinct.size() < max_batch)) {
      if (!known) distinct.push_back(g.id);
      c.waiters.push_back(std::move(g));
    } else {
      rest.push_back(std::move(g));
    }
  }
  queue.swap(rest);
  auto literal = pg::text_array(distinct);
  const char* params[2] = {c.collection.c_str(), literal.c_str()};
  int sent = c.prepared ? PQsendQueryPrepared(c.pg, statement_name, 2, params, nullptr, nullptr, 1)
                        : PQsendQueryParams(c.pg, statement_sql, 2, nullptr, params, nullptr,
                                            nullptr, 1);
  if (!sent) return lost(c);
  ++queries;
  ids += distinct.size();
  c.at = connection::phase::querying;
  c.deadline = clock::now() + cfg.call_bound();
  flush(c);
}

void postgres_async::loop::flush(connection& c) {
  int left = PQflush(c.pg);
  if (left < 0) return lost(c);
  c.want_write = left == 1;
}

void postgres_async::loop::finish(connection& c) {
  auto* r = std::exchange(c.result, nullptr);
  if (c.at == connection::phase::preparing) {
    auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    auto state = sqlstate(r);
    if (r) PQclear(r);
    if (status == PGRES_COMMAND_OK || state == "42P01") {
      // Without the schema (no server has migrated yet) the statement goes
      // as text, and every collection is missing until it exists.
      c.prepared = status == PGRES_COMMAND_OK;
      c.at = connection::phase::idle;
      return;
    }
    log().warn("postgres: cannot prepare the read statement ({}); connection closed", state);
    return c.close();
  }
  auto waiters = std::move(c.waiters);
  c.waiters.clear();
  bool schema_appeared = !c.prepared && r && PQresultStatus(r) == PGRES_TUPLES_OK;
  bool broken = answer_batch(waiters, c.collection, r, trimmed(PQerrorMessage(c.pg)));
  if (r) PQclear(r);
  if (broken || PQstatus(c.pg) == CONNECTION_BAD) return c.close();
  c.at = connection::phase::idle;
  c.reprepare = schema_appeared;
}

void postgres_async::loop::lost(connection& c) {
  auto waiters = std::move(c.waiters);
  c.waiters.clear();
  answer_batch(waiters, c.collection, nullptr, trimmed(PQerrorMessage(c.pg)));
  c.close();
}

void postgres_async::loop::connect_failed(connection& c, const std::string& why) {
  c.close();
  // Another connection may still serve the queue; with none, the server is
  // unreachable: answer now, as the pool does, so the caller falls over.
  bool other = std::any_of(connections.begin(), connections.end(),
                           [](auto& x) { return x->at != connection::phase::closed; });
  if (!other) fail_queue({errc::backend_unavailable, "cannot connect: " + why});
}

void postgres_async::loop::start_connect() {
  ++connects;
  auto c = std::make_unique<connection>();
  c->pg = PQconnectStart(conninfo.c_str());
  if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
    auto why = c->pg ? trimmed(PQerrorMessage(c->pg)) : std::string{"out of memory"};
    return connect_failed(*c, why);
  }
  // PQconnectPoll ignores connect_timeout: the loop enforces it.
  c->deadline = clock::now() + cfg.connect_timeout;
  connections.push_back(std::move(c));
}

void postgres_async::loop::dispatch() {
  while (!queue.empty()) {
    auto idle = std::find_if(connections.begin(), connections.end(),
                             [](auto& c) { return c->at == connection::phase::idle; });
    if (idle == connections.end()) break;
    if ((*idle)->reprepare) send_prepare(**idle);
    else send_batch(**idle);
  }
  if (queue.empty()) return;
  // Open one more connection at a time while gets wait and there is room.
  size_t open = 0, connecting = 0;
  for (auto& c : connections) {
    open += c->at != connection::phase::closed;
    connecting += c->at == connection::phase::connecting;
  }
  if (connecting == 0 && open < max_connections) start_connect();
}

void postgres_async::loop::expire() {
  auto now = clock::now();
  for (auto& c : connections) {
    if (c->at == connection::phase::idle || c->at == connection::phase::closed || c->deadline > now)
      continue;
    if (c->at == connection::phase::connecting) {
      connect_failed(*c, "timeout expired");
      continue;
    }
    // A frozen server answers nothing, not even a cancel: closing the
    // connection is the only bound. A new one opens when gets need it.
    ++abandoned;
    auto bound = std::to_string(cfg.call_bound().count());
    log().warn("postgres: no answer within {} ms; connection abandoned (is the server frozen?)",
               bound);
    auto waiters = std::move(c->waiters);
    c->waiters.clear();
    c->close();
    for (auto& g : waiters)
      deliver(g, backend_error{errc::timeout, "no answer from PostgreSQL within " + bound
                                                + " ms; connection abandoned"});
  }
  while (!queue.empty() && queue.front().deadline <= now) {
    auto g = std::move(queue.front());
    queue.pop_front();
    deliver(g, backend_error{errc::timeout, "no PostgreSQL connection free within "
                                              + std::to_string(cfg.call_bound().count())
                                              + " ms"});
  }
}

void postgres_async::loop::fail_queue(const backend_error& err) {
  auto waiting = std::move(queue);
  queue.clear();
  for (auto& g : waiting) deliver(g, err);
}

void postgres_async::loop::shut_down() {
  backend_error stopped{errc::backend_unavailable, "PostgreSQL backend stopped"};
  for (auto& c : connections) {
    auto waiters = std::move(c->waiters);
    c->waiters.clear();
    c->close();
    for (auto& g : waiters) deliver(g, stopped);
  }
  fail_queue(stopped);
}

// -- the caller's side --------------------------------------------------------------

postgres_async::postgres_async(const postgres_config& cfg, uint32_t connections)
  : loop_(std::make_shared<loop>(cfg, connections)) {
  loop::start(loop_);
}

postgres_async::~postgres_async() { loop_->stop(); }

void postgres_async::get(const std::string& collection, const std::string& id,
                         backend::completion<document> done) {
  auto& l = *loop_;
  auto deadline = clock::now() + l.cfg.call_bound() + l.cfg.connect_timeout;
  std::unique_lock guard{l.mutex};
  if (l.stopping) {
    guard.unlock();
    done(backend_error{errc::backend_unavailable, "PostgreSQL backend stopped"});
    return;
  }
  bool first = l.incoming.empty(); // later ones find the loop woken already
  l.incoming.push_back(pending_get{collection, id, std::move(done), deadline});
  guard.unlock();
  ++l.gets;
  if (first) l.wake();
}

postgres_async::counters postgres_async::stats() const {
  auto& l = *loop_;
  return {l.gets.load(), l.queries.load(), l.ids.load(), l.abandoned.load(), l.connects.load()};
}

void postgres_async::hold(bool held) {
  {
    std::lock_guard guard{loop_->mutex};
    loop_->held = held;
  }
  loop_->wake();
}

} // namespace lifeline
