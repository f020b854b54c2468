// The wire side of the asynchronous reader (postgres_async.hpp), private to
// it: the one statement it runs, and how one result (or failure) becomes the
// answer of every get of a batch, exactly as postgres_backend::get() answers.
// Kept apart from the event loop so that each file reads on its own.
#pragma once

#include "backends/backend.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <string>
#include <vector>

namespace lifeline::pg_async {

using clock = std::chrono::steady_clock;

/// The name every connection prepares the statement under.
inline constexpr const char* statement_name = "lifeline_get_many";

/// Live documents of $1 among the ids $2 (text[]), plus one row of NULLs if
/// the collection exists: one statement tells a missing document from a
/// missing collection, with no second round trip. Results come in binary
/// format (the embedding as raw bytes, the version as a big-endian int8).
extern const char* const statement_sql;

/// One get waiting for its answer.
struct pending_get {
  std::string collection;
  std::string id;
  backend::completion<document> done;
  clock::time_point deadline; ///< While it waits for a connection.
};

/// Calls `g.done` with `answer`; a completion that throws is logged, never
/// allowed to unwind into the loop.
void deliver(pending_get& g, expected<document> answer);

/// Answers every get of a batch for `collection` from the statement's
/// result `r` (which may be null: the connection broke, `connection_error`
/// says how). Tells whether the result is a failure that leaves the
/// connection unusable.
bool answer_batch(std::vector<pending_get>& waiters, const std::string& collection,
                  const PGresult* r, const std::string& connection_error);

/// The SQLSTATE of a failed result ("" if none).
std::string sqlstate(const PGresult* r);

/// `msg` without trailing newlines and spaces (libpq ends messages with "\n").
std::string trimmed(std::string msg);

} // namespace lifeline::pg_async
