// The PostgreSQL backend's asynchronous reader (backends/postgres_async.hpp)
// against the real server: get_async answers exactly what get() answers,
// concurrent gets coalesce into fewer queries (made deterministic by holding
// the loop while they queue), a frozen server answers timeout within the
// bound, a killed one unavailable, and a backend destroyed with gets pending
// answers them all. The backend actor's direct path is checked at the end.
#include "actors/backend_actor.hpp"
#include "backends/postgres_async.hpp"
#include "backends/postgres_backend.hpp"
#include "support/eventually.hpp"
#include "support/frozen_postgres.hpp"
#include "support/postgres_env.hpp"
#include "support/scoped_ask.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>

#include <future>
#include <memory>
#include <vector>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

namespace {

using answer = std::future<expected<document>>;

answer ask_async(postgres_backend& pg, const std::string& collection, const std::string& id) {
  auto p = std::make_shared<std::promise<expected<document>>>();
  auto f = p->get_future();
  pg.get_async(collection, id, [p](expected<document> r) { p->set_value(std::move(r)); });
  return f;
}

/// The answer, waited for a minute at most (a hang fails instead of blocking).
expected<document> await(answer& f) {
  REQUIRE(f.wait_for(60s) == std::future_status::ready);
  return f.get();
}

void check_same(const expected<document>& async, const expected<document>& blocking) {
  REQUIRE(bool(async) == bool(blocking));
  if (async) {
    CHECK(*async == *blocking);
  } else {
    CHECK(async.error().kind == blocking.error().kind);
    CHECK(async.error().message == blocking.error().message);
  }
}

postgres_config short_bounds(uint32_t pool_size) {
  auto cfg = postgres_from_env(pool_size);
  cfg.statement_timeout = 500ms; // call bound: 1.5 s
  cfg.connect_timeout = 2s;
  return cfg;
}

} // namespace

TEST_CASE("postgres async: get_async answers exactly what get answers", "[postgres]") {
  postgres_backend pg{postgres_from_env(2)};
  REQUIRE(pg.direct_reads().has(operation::get));
  auto c1 = unique_collection("async_a");
  auto c2 = unique_collection("async_b");
  REQUIRE(pg.create_collection({c1, 2, metric::l2}));
  REQUIRE(pg.create_collection({c2, 3, metric::cosine}));
  REQUIRE(pg.upsert(c1, {{"a", {1, 2}, "first", R"({"k":1})", 3},
                         {"b", {-1.5f, 0.25f}, "", "", 0},
                         {"gone", {5, 6}, "x", "", 1},
                         {"ünï", {7, 8}, "utf-8 id", "", 2}}));
  REQUIRE(pg.upsert(c2, {{"a", {1, 1, 1}, "other collection", "", 9}}));
  REQUIRE(pg.remove(c1, "gone", 2));
  std::vector<std::pair<std::string, std::string>> asks = {
    {c1, "a"}, {c1, "b"}, {c1, "missing"}, {c1, "gone"}, {c1, "ünï"}, {c2, "a"},
    {c2, "b"}, {"no_such_collection", "a"}, {c1, "a"}, {c1, ""}, {c1, "a\x01"}};
  auto* reader = pg.async_reader();
  REQUIRE(reader);
  SECTION("one at a time") {
    for (auto& [c, id] : asks) {
      INFO(c << " / " << id);
      auto f = ask_async(pg, c, id);
      check_same(await(f), pg.get(c, id));
    }
  }
  SECTION("all in flight together, the same id twice") {
    reader->hold(true);
    std::vector<answer> answers;
    for (auto& [c, id] : asks) answers.push_back(ask_async(pg, c, id));
    reader->hold(false);
    for (size_t i = 0; i < asks.size(); ++i) {
      INFO(asks[i].first << " / " << asks[i].second);
      check_same(await(answers[i]), pg.get(asks[i].first, asks[i].second));
    }
  }
}

TEST_CASE("postgres async: gets queued together leave as one query per collection",
          "[postgres]") {
  postgres_backend pg{postgres_from_env(2)};
  auto c1 = unique_collection("coalesce_a");
  auto c2 = unique_collection("coalesce_b");
  REQUIRE(pg.create_collection({c1, 1, metric::l2}));
  REQUIRE(pg.create_collection({c2, 1, metric::l2}));
  std::vector<document> docs;
  for (int i = 0; i < 70; ++i) docs.push_back({"d" + std::to_string(i), {float(i)}, "", "", 1});
  REQUIRE(pg.upsert(c1, docs));
  REQUIRE(pg.upsert(c2, {{"only", {1}, "", "", 1}}));
  auto* reader = pg.async_reader();
  REQUIRE(reader);
  auto warm = ask_async(pg, c1, "d0"); // a connection is open and prepared
  REQUIRE(await(warm));
  auto before = reader->stats();
  reader->hold(true);
  std::vector<std::pair<std::string, answer>> answers;
  // 70 distinct ids in c1, each asked twice, and 5 gets in c2 (one missing).
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 70; ++i) {
      auto id = "d" + std::to_string(i);
      answers.emplace_back(id, ask_async(pg, c1, id));
    }
  for (int i = 0; i < 5; ++i)
    answers.emplace_back(i == 4 ? "none" : "only", ask_async(pg, c2, i == 4 ? "none" : "only"));
  reader->hold(false);
  for (auto& [id, f] : answers) {
    INFO(id);
    auto r = await(f);
    if (id == "none") {
      REQUIRE_FALSE(r);
      CHECK(r.error().kind == errc::not_found);
    } else {
      REQUIRE(r);
      CHECK(r->id == id);
    }
  }
  auto after = reader->stats();
  CHECK(after.gets - before.gets == 145);
  // c1: 70 distinct ids in batches of at most 64: 2 queries; c2: 1 query.
  CHECK(after.queries - before.queries == 3);
  CHECK(after.ids - before.ids == 72); // each distinct id fetched once
}

TEST_CASE("postgres async: a frozen server answers timeout within the bound, then recovers",
          "[postgres][fault][frozen]") {
  postgres_backend pg{short_bounds(2)};
  auto c = unique_collection("async_frozen");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {{"a", {1, 2}, "", "", 1}}));
  auto* reader = pg.async_reader();
  auto warm = ask_async(pg, c, "a");
  REQUIRE(await(warm));
  {
    frozen_postgres frozen;
    reader->hold(true); // all five go out together on the open connection
    std::vector<answer> answers;
    for (int i = 0; i < 5; ++i) answers.push_back(ask_async(pg, c, "a"));
    reader->hold(false);
    auto results = frozen.bounded([&] {
      std::vector<expected<document>> out;
      for (auto& f : answers) out.push_back(await(f));
      return out;
    });
    REQUIRE(results);
    for (auto& r : *results) {
      REQUIRE_FALSE(r);
      CHECK(r.error().kind == errc::timeout);
      CHECK(r.error().message.find("connection abandoned") != std::string::npos);
    }
    CHECK(reader->stats().abandoned == 1);
  }
  // Resumed: a fresh connection serves the next gets.
  auto again = ask_async(pg, c, "a");
  auto r = await(again);
  REQUIRE(r);
  CHECK(r->version == 1);
}

TEST_CASE("postgres async: a killed server answers unavailable, then serves again after a "
          "restart",
          "[postgres][fault]") {
  postgres_backend pg{postgres_from_env(2)};
  auto c = unique_collection("async_killed");
  REQUIRE(pg.create_collection({c, 2, metric::l2}));
  REQUIRE(pg.upsert(c, {{"a", {1, 2}, "", "", 1}}));
  auto warm = ask_async(pg, c, "a");
  REQUIRE(await(warm));
  REQUIRE(pg_control("kill") == 0);
  for (int i = 0; i < 3; ++i) { // the dropped connection, then refused connects
    auto f = ask_async(pg, c, "a");
    auto r = await(f);
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK(r.error().kind == errc::backend_unavailable);
  }
  REQUIRE(pg_control("start") == 0);
  CHECK(eventually([&] {
    auto f = ask_async(pg, c, "a");
    auto r = await(f);
    return r && r->version == 1;
  }));
}

TEST_CASE("postgres async: destroying the backend answers every pending get", "[postgres]") {
  auto pg = std::make_unique<postgres_backend>(short_bounds(2));
  auto c = unique_collection("async_stop");
  REQUIRE(pg->create_collection({c, 2, metric::l2}));
  REQUIRE(pg->upsert(c, {{"a", {1, 2}, "", "", 1}}));
  auto warm = ask_async(*pg, c, "a");
  REQUIRE(await(warm));
  std::vector<answer> answers;
  SECTION("queued") {
    pg->async_reader()->hold(true);
    for (int i = 0; i < 10; ++i) answers.push_back(ask_async(*pg, c, "a"));
    pg.reset();
  }
  SECTION("in flight on a frozen server") {
    frozen_postgres frozen;
    for (int i = 0; i < 10; ++i) answers.push_back(ask_async(*pg, c, "a"));
    frozen.bounded([&] {
      pg.reset();
      return true;
    });
  }
  for (auto& f : answers) {
    auto r = await(f);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == errc::backend_unavailable);
    CHECK(r.error().message == "PostgreSQL backend stopped");
  }
}

TEST_CASE("postgres async: the backend actor serves gets directly, with the same checks",
          "[postgres]") {
  auto pg = std::make_shared<postgres_backend>(postgres_from_env(2));
  auto c = unique_collection("async_actor");
  REQUIRE(pg->create_collection({c, 2, metric::l2}));
  REQUIRE(pg->upsert(c, {{"a", {1, 2}, "hello", "", 4}}));
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto actor = spawn_backend_actor(sys, pg);
  caf::scoped_actor self{sys};
  auto before = pg->async_reader()->stats().gets;
  auto got = ask<document>(self, actor, get_atom::value, c, std::string{"a"});
  REQUIRE(got);
  CHECK(got->content == "hello");
  CHECK(got->version == 4);
  auto missing = ask<document>(self, actor, get_atom::value, c, std::string{"b"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == static_cast<uint8_t>(errc::not_found));
  CHECK(pg->async_reader()->stats().gets - before == 2); // no worker in between
  // The other calls still go through the workers.
  CHECK(ask<collection_stats>(self, actor, stats_atom::value, c));
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}

TEST_CASE("postgres async: a backend actor killed with direct gets pending fails them at once",
          "[postgres][fault][frozen]") {
  auto pg = std::make_shared<postgres_backend>(short_bounds(2));
  auto c = unique_collection("async_actor_kill");
  REQUIRE(pg->create_collection({c, 2, metric::l2}));
  REQUIRE(pg->upsert(c, {{"a", {1, 2}, "", "", 1}}));
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto actor = spawn_backend_actor(sys, pg);
  caf::scoped_actor self{sys};
  REQUIRE(ask<document>(self, actor, get_atom::value, c, std::string{"a"}));
  auto before = pg->async_reader()->stats().gets;
  frozen_postgres frozen;
  // The get waits on the frozen server (for up to its 1.5 s bound) when the
  // actor is killed: the caller hears at once, not from the bound.
  caf::expected<document> answer = caf::make_error(caf::sec::request_timeout);
  auto pending = self->request(actor, std::chrono::seconds(60), get_atom::value, c, std::string{"a"});
  REQUIRE(eventually([&] { return pg->async_reader()->stats().gets > before; }));
  caf::anon_send_exit(actor, caf::exit_reason::kill);
  pending.receive([&](document& d) { answer = std::move(d); },
                  [&](caf::error& e) { answer = std::move(e); });
  REQUIRE_FALSE(answer);
  CHECK(answer.error().code() == static_cast<uint8_t>(errc::backend_unavailable));
  frozen.resume();
  // The late completion finds the actor gone and is dropped; the store serves on.
  auto f = ask_async(*pg, c, "a");
  CHECK(await(f));
}
