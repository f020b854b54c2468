// The coordinator's side of checks and anti-entropy repair (issue 12): it
// keeps the check jobs (running, and the last few finished ones for their
// status endpoint), starts a checker actor per job over the backends that
// hold the data, and starts a background repair round every
// repair_interval. The comparison and the copies are the checker's
// (actors/checker.hpp); nothing here blocks or waits.
#include "actors/checker.hpp"
#include "actors/coordinator_state.hpp"
#include "core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace lifeline::detail {

namespace {

size_t running_jobs(const coordinator_state& st) {
  size_t n = 0;
  for (auto& [id, job] : st.checks) n += job.status.done ? 0 : 1;
  return n;
}

/// Forgets the oldest finished jobs beyond kept_check_jobs.
void forget_old_jobs(coordinator_state& st) {
  size_t finished = st.checks.size() - running_jobs(st);
  for (auto it = st.checks.begin(); it != st.checks.end() && finished > st.cfg.kept_check_jobs;) {
    if (it->second.status.done) {
      it = st.checks.erase(it);
      --finished;
    } else {
      ++it;
    }
  }
}

void finish(coordinator_pointer self, check_job& job, consistency_report report) {
  auto& s = job.status;
  s.done = true;
  s.finished_unix_ms = unix_ms();
  s.report = std::move(report);
  auto& r = s.report;
  if (!r.error.empty())
    log().warn("check job {}: failed after {} ranges: {}", s.id, s.progress.ranges, r.error);
  else if (r.differences() > 0 || s.background)
    log().info("{} job {}: {} ids in {} ranges compared, {} differences, {} repaired",
               s.repair ? "repair" : "check", s.id, s.progress.ids, s.progress.ranges,
               r.differences(), r.repaired());
  for (auto& rp : job.waiting) rp.deliver(s);
  for (auto& rp : job.waiting_report) rp.deliver(r);
  job.waiting.clear();
  job.waiting_report.clear();
  forget_old_jobs(self->state);
}

caf::expected<uint64_t> launch(coordinator_pointer self, bool repair, bool background) {
  auto& st = self->state;
  if (running_jobs(st) >= st.cfg.max_check_jobs)
    return caf::make_error(errc::overloaded, std::to_string(running_jobs(st))
                                               + " check jobs are running; wait for one to finish");
  check_plan plan;
  // Backends catching up or rebuilding differ by design until they are
  // done: only those that hold every acknowledged write are compared.
  for (auto& s : st.slots) {
    if (s.holds_data()) {
      plan.names.push_back(s.name);
      plan.backends.push_back(s.routing.handle());
    } else {
      auto state = s.routing.lifecycle() != lifecycle_state::up ? to_string(s.routing.lifecycle())
                                                                 : to_string(s.replica.state);
      plan.not_compared.push_back(s.name + ": " + std::string{state});
    }
  }
  auto id = st.next_ticket++;
  auto& job = st.checks[id];
  job.status.id = id;
  job.status.repair = repair;
  job.status.background = background;
  job.status.started_unix_ms = unix_ms();
  metrics(self).repair_round(repair, background);
  if (plan.backends.empty()) {
    consistency_report report;
    report.not_compared = std::move(plan.not_compared);
    report.error = "no backend is up and in sync";
    finish(self, job, std::move(report));
    return id;
  }
  plan.ticket = id;
  plan.call_timeout = st.cfg.recovery_call_timeout;
  plan.page = st.cfg.repair_page;
  plan.repair = repair;
  plan.ranges_per_second = background ? st.cfg.repair_rate : 0;
  plan.metrics = st.cfg.metrics;
  if (background || repair)
    log().info("{} job {} started over {} backends{}", repair ? "repair" : "check", id,
               plan.backends.size(), background ? " (background round)" : "");
  spawn_checker(self->system(), std::move(plan), self);
  return id;
}

} // namespace

caf::result<uint64_t> start_check_job(coordinator_pointer self, bool repair, bool background) {
  auto id = launch(self, repair, background);
  if (!id) return id.error();
  return *id;
}

caf::result<consistency_report> start_check(coordinator_pointer self) {
  auto id = launch(self, false, false);
  if (!id) return id.error();
  auto& job = self->state.checks.at(*id);
  if (job.status.done) return job.status.report;
  auto rp = self->make_response_promise<consistency_report>();
  job.waiting_report.push_back(rp);
  return rp;
}

caf::result<check_status> check_status_of(coordinator_pointer self, uint64_t id) {
  auto it = self->state.checks.find(id);
  if (it == self->state.checks.end())
    return caf::make_error(errc::not_found, "no check job " + std::to_string(id)
                                              + " (unknown, or finished long ago)");
  return it->second.status;
}

caf::result<check_status> await_check(coordinator_pointer self, uint64_t id) {
  auto it = self->state.checks.find(id);
  if (it == self->state.checks.end() || it->second.status.done) return check_status_of(self, id);
  auto rp = self->make_response_promise<check_status>();
  it->second.waiting.push_back(rp);
  return rp;
}

void on_check_progress(coordinator_pointer self, uint64_t ticket, check_progress& p) {
  auto it = self->state.checks.find(ticket);
  if (it != self->state.checks.end() && !it->second.status.done) it->second.status.progress = p;
}

void on_check_done(coordinator_pointer self, uint64_t ticket, consistency_report& report) {
  auto it = self->state.checks.find(ticket);
  if (it == self->state.checks.end() || it->second.status.done) return;
  finish(self, it->second, std::move(report));
}

void schedule_repair(coordinator_pointer self, bool first) {
  auto& cfg = self->state.cfg;
  auto interval = cfg.repair_interval;
  if (first && cfg.first_repair_delay > duration::zero() && interval > duration::zero())
    interval = cfg.first_repair_delay;
  if (interval > duration::zero()) self->delayed_send(self, interval, repair_atom::value);
}

void on_repair_tick(coordinator_pointer self) {
  auto& st = self->state;
  schedule_repair(self);
  // One round at a time, and none beside an operator's job.
  if (running_jobs(st) > 0) return;
  // Two backends that hold the data are needed to compare anything; the
  // others (down, catching up, rebuilding) are brought back by recovery.
  size_t holding = 0;
  for (auto& s : st.slots) holding += s.holds_data() ? 1 : 0;
  if (holding < 2) return;
  launch(self, true, true);
}

} // namespace lifeline::detail
