// The failover demo (the main job until the HTTP server exists): the
// coordinator over a real PostgreSQL and an in-process store. It shows a
// request served, PostgreSQL failing, the fallback, the outage error when
// nothing is left, and the recovery.
//
// Needs the environment that scripts/run.sh sets up (LIFELINE_PG_DSN,
// LIFELINE_PG_PASSWORD_FILE, LIFELINE_PG_CTL).
#include "actors/errors.hpp"
#include "actors/runtime.hpp"
#include "backends/memory_backend.hpp"
#include "backends/postgres_backend.hpp"
#include "metrics/counting_metrics.hpp"

#include <caf/all.hpp>

#include <cstdlib>
#include <iostream>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

template <class Reply, class... Ts>
caf::expected<Reply> ask(caf::scoped_actor& self, const coordinator_actor& c, Ts&&... xs) {
  caf::expected<Reply> out = caf::make_error(caf::sec::request_timeout);
  self->request(c, 30s, std::forward<Ts>(xs)...)
    .receive([&](Reply& r) { out = std::move(r); }, [&](caf::error& e) { out = std::move(e); });
  return out;
}

void step(const std::string& text) { std::cout << "\n== " << text << "\n"; }

void show(const caf::expected<write_receipt>& w) {
  if (!w) {
    std::cout << "   error: " << describe(w.error()) << "\n";
    return;
  }
  for (auto& b : w->backends)
    std::cout << "   " << b.backend << ": " << to_string(b.outcome)
              << (b.error.empty() ? "" : " (" + b.error + ")") << "\n";
}

bool show(const caf::expected<served<document>>& r) {
  if (!r) {
    std::cout << "   error: " << describe(r.error()) << "\n";
    return false;
  }
  std::cout << "   " << r->value.id << " = \"" << r->value.content << "\"  (served by "
            << r->backend << ")\n";
  return true;
}

void show_health(caf::scoped_actor& self, const coordinator_actor& c) {
  auto h = ask<health_report>(self, c, health_atom::value);
  if (!h) return;
  for (auto& b : h->backends)
    std::cout << "   " << b.name << " [" << b.kind << "]: " << to_string(b.lifecycle)
              << ", circuit " << to_string(b.circuit)
              << (b.last_error.empty() ? "" : ", last error: " + b.last_error) << "\n";
}

int pg(const std::string& action) {
  const char* ctl = std::getenv("LIFELINE_PG_CTL");
  if (!ctl) return -1;
  return std::system((std::string{ctl} + " " + action).c_str());
}

} // namespace

int main() {
  auto set = [](const char* var) { return std::getenv(var) && *std::getenv(var); };
  if (!set("LIFELINE_PG_DSN") || !set("LIFELINE_PG_CTL")) {
    std::cerr << "lifeline-demo: run it through scripts/run.sh, which starts PostgreSQL\n";
    return 2;
  }
  caf::actor_system_config cfg;
  tune_scheduler(cfg);
  caf::actor_system sys{cfg};
  auto metrics = std::make_shared<counting_metrics>();

  postgres_config pgcfg;
  pgcfg.dsn = std::getenv("LIFELINE_PG_DSN");
  pgcfg.password_from_env();
  pgcfg.connect_timeout = 2s;
  runtime_config rc;
  rc.backends.push_back({"postgres", [pgcfg] { return make_shared_backend<postgres_backend>(pgcfg); }});
  rc.backends.push_back({"memory", shared_instance(std::make_shared<memory_backend>(2))});
  rc.coordinator.attempt_timeout = 2s;
  rc.coordinator.probe_interval = 500ms;
  rc.coordinator.circuit.open_duration = 1s;
  rc.metrics = metrics;
  auto rt = spawn_runtime(sys, rc);
  caf::scoped_actor self{sys};
  auto c = rt.coordinator;
  if (!rt.await_ready(sys)) return 1;

  step("Two backends in priority order: PostgreSQL first, the in-process store second");
  show_health(self, c);

  step("Write: a collection and three documents fan out to both backends");
  show(ask<write_receipt>(self, c, create_atom::value, collection_spec{"demo", 4, metric::cosine}));
  std::vector<document> docs{{"doc-1", {1, 0, 0, 0}, "first", R"({"n":1})", 0},
                             {"doc-2", {0, 1, 0, 0}, "second", R"({"n":2})", 0},
                             {"doc-3", {0, 0, 1, 0}, "third", R"({"n":3})", 0}};
  show(ask<write_receipt>(self, c, upsert_atom::value, std::string{"demo"}, docs));

  step("Read: served by PostgreSQL");
  if (!show(ask<served<document>>(self, c, get_atom::value, std::string{"demo"},
                                  std::string{"doc-1"})))
    return 1;

  step("PostgreSQL fails (pg_ctl stop -m immediate)");
  if (pg("kill") != 0) return 1;
  step("Read again: the coordinator falls back to the in-process store; no error reaches us");
  for (auto id : {"doc-2", "doc-3"})
    if (!show(ask<served<document>>(self, c, get_atom::value, std::string{"demo"},
                                    std::string{id})))
      return 1;
  std::cout << "   fallbacks counted: " << metrics->fallbacks() << "\n";
  show_health(self, c);

  step("The in-process store is stopped too: no backend is left");
  caf::anon_send_exit(rt.supervisors.at(1), caf::exit_reason::user_shutdown);
  // Wait for the coordinator to learn of it (one health round trip per step).
  for (int i = 0; i < 100; ++i) {
    auto h = ask<health_report>(self, c, health_atom::value);
    if (h && h->backends.at(1).lifecycle == lifecycle_state::stopped) break;
  }
  auto outage = ask<served<document>>(self, c, get_atom::value, std::string{"demo"},
                                      std::string{"doc-1"});
  show(outage);
  if (outage || !is(outage.error(), errc::all_backends_unavailable)) return 1;
  std::cout << "   outages counted: " << metrics->outages() << "\n";

  step("PostgreSQL comes back: the probe notices and reads are served again");
  if (pg("start") != 0) return 1;
  bool recovered = false;
  for (int i = 0; i < 300 && !recovered; ++i) {
    auto r = ask<served<document>>(self, c, get_atom::value, std::string{"demo"},
                                   std::string{"doc-1"});
    if (r) recovered = show(r);
    else self->receive(caf::after(100ms) >> [] {}); // the probe runs every 500 ms
  }
  show_health(self, c);
  std::cout << (recovered ? "\nDemo finished.\n" : "\nPostgreSQL did not come back.\n");
  return recovered ? 0 : 1;
}
