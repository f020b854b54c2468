// Embedding Lifeline in your own CAF application: your actor system, your
// actors, Lifeline's coordinator and supervised backends next to them. Your
// actors talk to the coordinator with asynchronous requests (about 1 µs
// each); nothing blocks on the hot path.
#include <lifeline/lifeline.hpp>

#include <caf/all.hpp>

#include <iostream>

using namespace lifeline;
using namespace std::chrono_literals;

namespace {

// An application actor: writes a document, reads it back, searches, and
// reports what it saw to `done`.
caf::behavior app(caf::event_based_actor* self, coordinator_actor coordinator, caf::actor done) {
  std::vector<document> docs{{"apple", {1, 0}, "a fruit", R"({"kind":"fruit"})", 0},
                             {"carrot", {0, 1}, "a root", R"({"kind":"vegetable"})", 0}};
  self->request(coordinator, 5s, create_atom::value, collection_spec{"food", 2, metric::l2})
    .then([=](const write_receipt&) {
      self->request(coordinator, 5s, upsert_atom::value, std::string{"food"}, docs)
        .then([=](const write_receipt& w) {
          std::cout << "upsert applied on " << w.applied() << " backends\n";
          self->request(coordinator, 5s, search_atom::value,
                        search_query{"food", {0.9f, 0.1f}, 1, 0})
            .then(
              [=](const served<std::vector<search_hit>>& r) {
                std::cout << "nearest: " << r.value.at(0).id << " (served by " << r.backend
                          << ")\n";
                self->send(done, r.value.at(0).id == "apple");
                self->quit();
              },
              [=](const caf::error& e) {
                std::cerr << describe(e) << "\n";
                self->send(done, false);
                self->quit();
              });
        });
    });
  return {};
}

} // namespace

int main() {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  runtime_config rc;
  rc.backends.push_back({"primary", shared_instance(std::make_shared<memory_backend>())});
  rc.backends.push_back({"replica", shared_instance(std::make_shared<memory_backend>())});
  auto rt = spawn_runtime(sys, rc);
  if (!rt.await_ready(sys)) return 1;
  caf::scoped_actor self{sys};
  sys.spawn(app, rt.coordinator, caf::actor{self});
  bool ok = false;
  self->receive([&](bool result) { ok = result; }, caf::after(30s) >> [] {});
  rt.stop();
  std::cout << (ok ? "embed example: ok\n" : "embed example: FAILED\n");
  return ok ? 0 : 1;
}
