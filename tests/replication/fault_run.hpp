// One run of the randomized fault test (fault_model_test.cpp): the real
// server over PostgreSQL and the vector store, a random workload with
// faults injected between its steps, and a model of every acknowledged
// write to compare the backends with at the end. In its own files so the
// test file holds only the test cases. Its members live in fault_run.cpp
// (the runs), fault_run_workload.cpp (random operations, faults, the model
// and the comparison) and fault_run_server.cpp (server control, the check
// job, log damage).
//
// Writes whose outcome the client cannot know (the server died, or answered
// 503) are "ambiguous": they may or may not have taken effect. Each such
// document is written once more, successfully, before the comparison, so the
// model is exact.
#pragma once

#include "support/document_model.hpp"
#include "support/postgres_env.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace lifeline::testing {

class fault_run {
public:
  explicit fault_run(uint64_t seed);

  ~fault_run();

  void run(int steps);

  /// Issue 12: writes cut between their two sends leave the backends
  /// different with matching markers; the check finds it, and repair (on
  /// request, then the background round) makes them equal again, with
  /// every acknowledged write intact.
  void run_cut_writes(int steps);

  /// Issue 12: PostgreSQL's handoff log passes its handoff_limit_mb (1 MiB
  /// here) while PostgreSQL is down: the log is dropped, writes stay
  /// acknowledged, the server is killed -9 while PostgreSQL is still down,
  /// and when it is back the rebuild copies every acknowledged write.
  void run_past_cap(int steps);

  /// Issue 12: damage in the middle of a log, with valid records after it,
  /// while the server is killed: first PostgreSQL's handoff log (PostgreSQL
  /// down), then the vector store's write-ahead log. Each is set aside as
  /// *.damaged and its backend rebuilt from the other, with every
  /// acknowledged write.
  void run_damaged_logs(int steps);

private:
  /// Starts the server and creates the collection.
  void begin();

  /// Settles the ambiguous writes and compares every backend with the model.
  void finish();

  // -- damaged logs ----------------------------------------------------------------

  /// Offsets of the intact records of a log file ([u32 length][u32 CRC]
  /// [payload], io/record_log.hpp; a zero length ends them).
  static std::vector<size_t> record_offsets(const std::string& bytes);

  static std::string read_bytes(const std::string& path);

  /// The hints-<n>.log segment with the most records.
  static std::string largest_segment(const std::string& directory);

  /// Flips a payload byte of a record in the middle of `path`, so that
  /// valid records follow the damage (damage, not a torn tail).
  std::string damage_mid_log(const std::string& path);

  /// Whether something in `directory` was set aside as damaged.
  static bool has_damaged(const std::string& directory);

  // -- the server --------------------------------------------------------------

  void start(std::vector<std::string> extra = {}, std::string config = {});

  std::optional<http_response> call(const std::string& method, const std::string& target,
                                    const std::string& body = {});

  void await_in_sync();

  /// The sum of a metric's series whose labels contain every one of `labels`.
  static double metric(const std::string& text, const std::string& name,
                       std::vector<std::string> labels);

  /// Runs a check job (POST, then polls its status URL); its report.
  nlohmann::json check_job(bool repair);

  /// Two writes through a server whose PostgreSQL is frozen: the first
  /// hangs in PostgreSQL's one connection, the second waits behind it; the
  /// vector store applies both. The server is killed -9 before either is
  /// handed off, and PostgreSQL resumes. Both are ambiguous (never
  /// acknowledged); at least the second is on the vector store only.
  void cut_writes(const std::string& first, const std::string& second);

  // -- faults --------------------------------------------------------------------

  enum class fault_kind { pg_kill, pg_pause, crash_vectors, kill_server, restart_server };

  /// Every kind of fault, several times, in a seeded order at seeded steps
  /// (a PostgreSQL fault lasts 5 to 40 steps and may span other faults).
  void plan_faults(int steps);

  void maybe_fault();

  void event(const std::string& what);

  void end_faults();

  // -- operations and the model ----------------------------------------------------

  void random_operation();

  std::string random_id() { return "doc-" + std::to_string(rng_() % 60); }

  std::vector<std::string> random_ids(int n);

  nlohmann::json document_json(const std::string& id, const std::string& content);

  /// Returns true if the write was acknowledged.
  bool upsert(const std::vector<std::string>& ids, size_t padding = 0);

  void remove(const std::string& id);

  /// A read never returns stale or made-up data: the acknowledged state,
  /// or a controlled error.
  void read(const std::string& id);

  /// Writes every ambiguous document once more until acknowledged.
  void settle_ambiguous();

  size_t live_count() const;

  // -- the comparison -------------------------------------------------------------------

  void compare_through_check();

  /// Every document of the model, read from one backend alone.
  void compare_alone(const std::string& backend);

  uint64_t seed_;
  std::mt19937_64 rng_;
  temp_dir data_;
  scratch_database db_;
  std::string config_;
  std::string cut_config_;        ///< run_cut_writes: PostgreSQL with one connection.
  std::string background_config_; ///< The same with a background repair every 500 ms.
  std::unique_ptr<server_process> server_;
  std::unique_ptr<http_client> client_;
  document_model model_;
  std::set<std::string> ambiguous_;
  std::string pg_fault_; ///< "kill" or "pause" while one lasts.
  std::map<int, fault_kind> schedule_;
  std::string events_;
  int pg_fault_end_ = 0;
  int step_ = 0;
  uint64_t writes_ = 0;
};

} // namespace lifeline::testing
