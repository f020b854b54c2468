// The actor that owns the coordinator's files (version ceiling, replica
// markers), on CAF's deterministic scheduler with real files; and the
// coordinator's versions, which never pass the ceiling it has stored.
#include "actors/durable_state.hpp"
#include "actors/errors.hpp"
#include "support/temp_dir.hpp"
#include "support/test_system.hpp"
#include "support/two_backends.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace lifeline;
using namespace lifeline::testing;
using namespace std::chrono_literals;

TEST_CASE("durable state: the ceiling and the markers survive a new actor",
          "[durable_state]") {
  temp_dir dir;
  test_system t;
  auto root = dir.path() + "/state";
  {
    auto a = spawn_durable_state(t.sys(), root, false);
    CHECK(*t.ask<uint64_t>(a, ceiling_atom::value) == 0);
    CHECK(*t.ask<uint64_t>(a, ceiling_atom::value, uint64_t{12345}) == 12345);
    std::filesystem::create_directories(backend_directory(root, "b"));
    CHECK(t.ask<std::string>(a, marker_atom::value, std::string{"b"})->empty());
    REQUIRE(t.ask<ok_atom>(a, marker_atom::value, std::string{"b"}, std::string{"m1"}));
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    t.run();
  }
  auto a = spawn_durable_state(t.sys(), root, false);
  CHECK(*t.ask<uint64_t>(a, ceiling_atom::value) == 12345);
  CHECK(*t.ask<std::string>(a, marker_atom::value, std::string{"b"}) == "m1");
  // Forgetting a marker removes it for good; forgetting none is fine.
  REQUIRE(t.ask<ok_atom>(a, marker_atom::value, std::string{"b"}, std::string{}));
  REQUIRE(t.ask<ok_atom>(a, marker_atom::value, std::string{"b"}, std::string{}));
  CHECK(t.ask<std::string>(a, marker_atom::value, std::string{"b"})->empty());
  // A marker for a backend without a directory cannot be stored.
  CHECK_FALSE(t.ask<ok_atom>(a, marker_atom::value, std::string{"none"}, std::string{"m"}));
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  t.run();
}

TEST_CASE("durable state: an unreadable ceiling is an error, not a zero", "[durable_state]") {
  temp_dir dir;
  test_system t;
  std::ofstream{dir.path() + "/version"} << "not a number";
  auto a = spawn_durable_state(t.sys(), dir.path(), false);
  CHECK_FALSE(t.ask<uint64_t>(a, ceiling_atom::value));
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  t.run();
}

TEST_CASE("durable state: every version the coordinator hands out is below the stored "
          "ceiling, also after a restart", "[durable_state][replication]") {
  temp_dir dir;
  auto handoff = dir.path() + "/handoff";
  two_backends f{[&](runtime_config& cfg) {
    cfg.coordinator.handoff_dir = handoff;
    cfg.coordinator.detached_io = false;
  }};
  f.seed_data();
  auto stored_ceiling = [&] {
    auto reader = spawn_durable_state(f.sys(), handoff, false);
    auto c = f.ask<uint64_t>(reader, ceiling_atom::value);
    caf::anon_send_exit(reader, caf::exit_reason::user_shutdown);
    f.run();
    REQUIRE(c);
    return *c;
  };
  auto first = f.upsert({"x", {2, 2}, "X", "{}", 0});
  REQUIRE(first);
  CHECK(first->version > 0);
  CHECK(first->version <= stored_ceiling());
  f.respawn();
  auto second = f.upsert({"y", {3, 3}, "Y", "{}", 0});
  REQUIRE(second);
  CHECK(second->version > first->version);
  CHECK(second->version <= stored_ceiling());
}

TEST_CASE("durable state: with an unreadable version file, writes are refused as not durable "
          "and reads go on", "[durable_state][replication]") {
  temp_dir dir;
  auto handoff = dir.path() + "/handoff";
  std::filesystem::create_directories(handoff);
  std::ofstream{handoff + "/version"} << "garbage";
  two_backends f{[&](runtime_config& cfg) {
    cfg.coordinator.handoff_dir = handoff;
    cfg.coordinator.detached_io = false;
  }};
  // A collection create carries no version: it goes through.
  auto created = f.ask<write_receipt>(f.coordinator(), create_atom::value,
                                      collection_spec{"c", 2, metric::l2});
  REQUIRE(created);
  CHECK(created->applied() == 2);
  auto w = f.upsert({"x", {2, 2}, "X", "{}", 0});
  REQUIRE_FALSE(w);
  CHECK(is(w.error(), errc::not_durable));
  CHECK(f.ask<served<std::vector<collection_spec>>>(f.coordinator(), list_atom::value));
}
