#include "harness/scenario.hpp"

#include "harness/http.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lifeline::bench {

namespace {

const std::vector<std::string>& actions() {
  static const std::vector<std::string> all = {"pg-kill",  "pg-start",     "pg-pause",
                                               "pg-resume", "pg-restart",  "pg-flap",
                                               "vectors-down", "vectors-up",
                                               "pg-promote"};
  return all;
}

fault_event checked(double at, std::string action, std::vector<double> args,
                    const std::string& where) {
  if (std::find(actions().begin(), actions().end(), action) == actions().end())
    throw std::runtime_error(where + ": unknown action '" + action + "'");
  if (at < 0) throw std::runtime_error(where + ": negative time");
  if (action == "pg-flap") {
    if (args.size() != 2 || args[0] <= 0 || args[1] <= 0)
      throw std::runtime_error(where + ": pg-flap needs DURATION and PERIOD seconds");
    return {at, "pg-flap " + std::to_string(args[0]) + " " + std::to_string(args[1])};
  }
  if (!args.empty()) throw std::runtime_error(where + ": " + action + " takes no arguments");
  return {at, action};
}

} // namespace

std::vector<fault_event> read_scenario(const std::string& path) {
  std::ifstream in{path};
  if (!in) throw std::runtime_error("cannot read scenario " + path);
  std::vector<fault_event> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = line.substr(0, line.find('#'));
    std::istringstream words{line};
    double at;
    std::string action;
    if (!(words >> at)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected SECONDS ACTION");
    }
    if (!(words >> action))
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected an action");
    std::vector<double> args;
    for (double a; words >> a;) args.push_back(a);
    out.push_back(checked(at, action, args, path + ":" + std::to_string(n)));
  }
  return expand(std::move(out));
}

fault_event parse_fault_flag(const std::string& flag) {
  std::vector<std::string> parts;
  std::stringstream in{flag};
  for (std::string p; std::getline(in, p, ':');) parts.push_back(p);
  if (parts.size() < 2) throw std::runtime_error("--fault " + flag + ": expected SECONDS:ACTION");
  std::vector<double> args;
  try {
    for (size_t i = 2; i < parts.size(); ++i) args.push_back(std::stod(parts[i]));
    return checked(std::stod(parts[0]), parts[1], args, "--fault " + flag);
  } catch (const std::invalid_argument&) {
    throw std::runtime_error("--fault " + flag + ": not a number");
  }
}

std::vector<fault_event> expand(std::vector<fault_event> events) {
  std::vector<fault_event> out;
  for (auto& e : events) {
    if (e.action.rfind("pg-flap", 0) != 0) {
      out.push_back(e);
      continue;
    }
    std::istringstream words{e.action.substr(7)};
    double duration = 0, period = 0;
    words >> duration >> period;
    bool down = false;
    for (double t = 0; t < duration; t += period, down = !down)
      out.push_back({e.at + t, down ? "pg-start" : "pg-kill"});
    if (down) out.push_back({e.at + duration, "pg-start"});
  }
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.at < b.at; });
  return out;
}

std::vector<fault_event> builtin_scenario(const std::string& name, double s) {
  if (name == "none") return {};
  if (name == "failover") return {{s / 4, "pg-kill"}, {s / 2, "pg-start"}};
  if (name == "pause") return {{s / 4, "pg-pause"}, {s / 2, "pg-resume"}};
  if (name == "vectors") return {{s / 4, "vectors-down"}, {s / 2, "vectors-up"}};
  if (name == "both")
    return {{s / 5, "pg-kill"}, {s * 2 / 5, "vectors-down"}, {s * 3 / 5, "vectors-up"},
            {s * 4 / 5, "pg-start"}};
  if (name == "stutter") { // alive but stalling: 300 ms of every 1.5 s, the whole run
    std::vector<fault_event> out;
    for (double t = 1.5; t + 0.3 < s; t += 1.5) {
      out.push_back({t, "pg-pause"});
      out.push_back({t + 0.3, "pg-resume"});
    }
    return out;
  }
  if (name == "flap") return expand({{s / 4, "pg-flap " + std::to_string(s / 2) + " 2"}});
  // The primary killed, its hot standby promoted a while later (as a
  // failover manager would); needs the standby scripts/bench.sh starts.
  if (name == "standby") return {{s / 4, "pg-kill"}, {s * 3 / 8, "pg-promote"}};
  throw std::runtime_error("unknown scenario '" + name
                           + "' (none, failover, pause, vectors, both, flap, stutter, or a file)");
}

backend_states states_at(const std::vector<fault_event>& events, double t) {
  backend_states s;
  for (auto& e : events) {
    if (e.at > t) break;
    if (e.action == "pg-kill" || e.action == "pg-pause") s.postgres_down = true;
    if (e.action == "pg-start" || e.action == "pg-resume" || e.action == "pg-restart"
        || e.action == "pg-promote")
      s.postgres_down = false;
    if (e.action == "vectors-down") s.vectors_down = true;
    if (e.action == "vectors-up") s.vectors_down = false;
  }
  return s;
}

fault_injector::fault_injector(std::string pg_script, std::string admin_base_url, std::string token)
  : pg_script_(std::move(pg_script)), admin_(std::move(admin_base_url)), token_(std::move(token)) {}

std::string fault_injector::pg(const std::string& action) const {
  auto cmd = "bash " + pg_script_ + " " + action + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "cannot run " + pg_script_;
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) output += buf;
  int rc = ::pclose(p);
  if (rc == 0) return "";
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return "scripts/pg.sh " + action + " failed (status " + std::to_string(rc) + "): " + output;
}

std::string fault_injector::admin(const std::string& path) const {
  try {
    auto c = client_for(admin_, token_);
    auto r = c.request("POST", path);
    if (r.status / 100 == 2) return "";
    return "POST " + path + ": HTTP " + std::to_string(r.status) + " " + r.body;
  } catch (const std::exception& e) {
    return "POST " + path + ": " + e.what();
  }
}

std::string fault_injector::apply(const fault_event& e) const {
  if (e.action == "pg-kill") return pg("kill");
  if (e.action == "pg-start") return pg("start");
  if (e.action == "pg-promote") {
    promoted_ = true;
    return pg("promote");
  }
  if (e.action == "pg-pause") return pg("pause");
  if (e.action == "pg-resume") return pg("resume");
  if (e.action == "pg-restart") {
    auto err = pg("stop");
    return err.empty() ? pg("start") : err;
  }
  if (e.action == "vectors-down") return admin("/v1/admin/backends/vectors/stop");
  if (e.action == "vectors-up") return admin("/v1/admin/backends/vectors/start");
  return "unknown action " + e.action;
}

void fault_injector::heal() const {
  pg("resume");
  // After a promotion the standby is the primary: starting the old one
  // would make two.
  if (!promoted_ && !pg("status").empty()) pg("start");
  admin("/v1/admin/backends/vectors/start");
}

} // namespace lifeline::bench
