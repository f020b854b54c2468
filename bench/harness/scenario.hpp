// Fault scenarios: what to break, and when, while the load runs. Declared in
// a small file (one event per line: "<seconds> <action> [args]", '#' starts
// a comment) or with --fault SECONDS:ACTION flags.
//
//   10 pg-kill          # kill -9 PostgreSQL (pg_ctl stop -m immediate)
//   20 pg-start
//   30 pg-pause         # SIGSTOP the server processes
//   35 pg-resume        # SIGCONT
//   40 pg-restart       # a fast stop, then a start
//   50 vectors-down     # POST /v1/admin/backends/vectors/stop
//   60 vectors-up       # .../start
//   70 pg-flap 10 2     # for 10 s: kill, start, kill... every 2 s
//   80 pg-promote       # promote the hot standby (scripts/pg.sh promote)
#pragma once

#include <string>
#include <vector>

namespace lifeline::bench {

struct fault_event {
  double at = 0;      ///< Seconds from the start of the measured run.
  std::string action; ///< One of the actions above (flaps are expanded).
};

/// Parses a scenario file; throws std::runtime_error naming the line.
std::vector<fault_event> read_scenario(const std::string& path);
/// Parses "SECONDS:ACTION[:ARG:ARG]".
fault_event parse_fault_flag(const std::string& flag);
/// Expands pg-flap and sorts by time.
std::vector<fault_event> expand(std::vector<fault_event> events);
/// The built-in scenarios: "none", "failover" (PostgreSQL killed at 1/4 of
/// the run, started at 1/2), "pause", "vectors", "both", "flap", "stutter"
/// (PostgreSQL paused 300 ms every 1.5 s for the whole run), "standby"
/// (the primary killed at 1/4, its hot standby promoted at 3/8).
std::vector<fault_event> builtin_scenario(const std::string& name, double seconds);

/// Which backends are down at time t, from the events so far.
struct backend_states {
  bool postgres_down = false;
  bool vectors_down = false;
};
backend_states states_at(const std::vector<fault_event>& events, double t);

/// Carries out faults: PostgreSQL through scripts/pg.sh (which needs the
/// environment scripts/pg.sh's pg_start exports), the vector store through
/// the server's admin API.
class fault_injector {
public:
  fault_injector(std::string pg_script, std::string admin_base_url, std::string token);
  /// Returns an error text, or "" if it worked.
  std::string apply(const fault_event& e) const;
  /// Leaves PostgreSQL running and the vector store up, whatever happened.
  void heal() const;

private:
  std::string pg(const std::string& action) const;
  std::string admin(const std::string& path) const;
  std::string pg_script_, admin_, token_;
  mutable bool promoted_ = false; ///< Set by pg-promote (on the fault thread).
};

} // namespace lifeline::bench
