// How a reply computed on another thread (an actor's) gets back to its
// connection without keeping the HTTP server alive past its stop: the gate
// it passes through to the io_context, and the registry that owns the
// connections waiting for such a reply. Split from http_server.cpp because
// this is the one place where the server's life meets the actors' threads,
// and the rules for it (who holds what, what a late reply may touch) are
// easier to keep in a small file of their own.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace lifeline::api {

/// The way a reply computed on another thread (an actor's) reaches the
/// io_context: open while the io_context can take work, closed (for good)
/// once the server stops running it. A reply that comes later is dropped
/// where it comes, and holds nothing of the server: the callbacks hold the
/// gate (shared) and a weak reference to their connection, never the
/// connection itself nor a strand of the io_context.
class reply_gate {
public:
  explicit reply_gate(boost::asio::io_context& io) : io_(&io) {}

  /// Posts `f` to the io_context if it is still served; else drops it.
  template <class F>
  void post(F&& f) {
    std::lock_guard lock{mutex_};
    if (io_) boost::asio::post(*io_, std::forward<F>(f));
  }

  void close() {
    std::lock_guard lock{mutex_};
    io_ = nullptr;
  }

private:
  std::mutex mutex_;
  boost::asio::io_context* io_;
};

/// The connections waiting for the API's reply, by address: their only
/// owner then (the reply callbacks hold them weakly), so that a reply that
/// never comes leaves nothing behind once the server stops.
class awaiting_reply {
public:
  void hold(const void* key, std::shared_ptr<void> connection);
  void release(const void* key);
  /// After the io_context stopped: closes the connections still waiting for
  /// a reply, here, while the io_context exists. Returns how many.
  size_t drop_all();

private:
  std::mutex mutex_;
  std::unordered_map<const void*, std::shared_ptr<void>> held_;
};

} // namespace lifeline::api
