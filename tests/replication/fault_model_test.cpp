// The randomized fault test of issue 6: mixed upserts and deletes through
// the real server while PostgreSQL is killed, paused and restarted, the
// vector backend's actor is crashed and the whole server is killed and
// restarted. A model keeps every acknowledged write; at the end every backend
// must hold exactly the model's documents and versions, compared by the
// server's own check and by reading each backend alone.
//
// Issue 12 adds runs of the faults it bounds: writes cut between their two
// sends (repair), a handoff log past handoff_limit_mb (cap), and damage in
// the middle of a log, with valid records after it, in the handoff log and
// in the vector store's write-ahead log (damage).
//
// Writes whose outcome the client cannot know (the server died, or answered
// 503) are "ambiguous": they may or may not have taken effect. Each such
// document is written once more, successfully, before the comparison, so the
// model is exact.
#include "support/eventually.hpp"
#include "support/postgres_env.hpp"
#include "support/server_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sys/wait.h>
#include <thread>

using namespace lifeline;
using namespace lifeline::testing;
using json = nlohmann::json;

namespace {

struct model_doc {
  bool live = false;
  uint64_t version = 0;
  std::string content;
};

class fault_run {
public:
  explicit fault_run(uint64_t seed) : seed_(seed), rng_(seed) {
    config_ = data_.path() + "/lifeline.toml";
    std::ofstream{config_} << "attempt_timeout_ms = 300\nrequest_timeout_ms = 1500\n"
                           << "probe_interval_ms = 200\nprobe_timeout_ms = 500\n"
                           << "breaker_failures = 2\nbreaker_open_ms = 500\n"
                           << "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\n"
                           << "priority = 1\nconninfo = \"" << serve_dsn(db_) << "\"\n"
                           << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 2\n";
    // A write cut between its two sends (run_cut_writes): PostgreSQL's one
    // connection hangs in a write while the vector store applies the next;
    // nothing may hand that write off to the log before the kill, so the
    // deadlines and the breaker are far away and the probes rare.
    std::string cut = "attempt_timeout_ms = 60000\nrequest_timeout_ms = 120000\n"
                      "write_grace_ms = 60000\nprobe_interval_ms = 60000\nprobe_timeout_ms = 500\n"
                      "breaker_failures = 1000\n";
    std::string backends = "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\npriority = 1\n"
                           "pool_size = 1\nconninfo = \"" + serve_dsn(db_) + "\"\n"
                           "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 2\n";
    cut_config_ = data_.path() + "/cut.toml";
    std::ofstream{cut_config_} << cut << "repair_interval_ms = 0\n" << backends;
    background_config_ = data_.path() + "/background.toml";
    std::ofstream{background_config_} << cut << "repair_interval_ms = 500\nrepair_rate = 0\n"
                                       << backends;
  }

  ~fault_run() {
    // Leave PostgreSQL running for the next test, whatever happened.
    pg_control("resume");
    if (pg_control("status >/dev/null") != 0) pg_control("start");
  }

  void run(int steps) {
    plan_faults(steps);
    start();
    await_in_sync();
    auto created = call("PUT", "/v1/collections/c", R"({"dimension":4})");
    REQUIRE(created);
    REQUIRE(created->status == 201);
    for (step_ = 0; step_ < steps; ++step_) {
      maybe_fault();
      random_operation();
    }
    end_faults();
    WARN("seed " << seed_ << ": " << steps << " operations, " << ambiguous_.size()
                 << " documents with an unknown outcome to settle; faults:" << events_);
    settle_ambiguous();
    await_in_sync();
    compare_through_check();
    server_->stop();
    for (auto* only : {"postgres", "vectors"}) compare_alone(only);
  }

  /// Issue 12: writes cut between their two sends leave the backends
  /// different with matching markers; the check finds it, and repair (on
  /// request, then the background round) makes them equal again, with
  /// every acknowledged write intact.
  void run_cut_writes(int steps) {
    start({}, cut_config_);
    await_in_sync();
    auto created = call("PUT", "/v1/collections/c", R"({"dimension":4})");
    REQUIRE(created);
    REQUIRE(created->status == 201);
    for (step_ = 0; step_ < steps; ++step_) {
      auto pick = std::uniform_int_distribution<int>{0, 99}(rng_);
      if (pick < 70) upsert({random_id()});
      else remove(random_id());
    }
    cut_writes("cut-1", "cut-2");
    start({}, cut_config_);
    await_in_sync();
    auto found = check_job(false);
    INFO("seed " << seed_ << ": " << found.dump());
    REQUIRE_FALSE(found.at("consistent").get<bool>());
    auto differences = found.at("differences").get<uint64_t>();
    CHECK(differences >= 1);
    CHECK(found.dump().find("postgres missing") != std::string::npos);
    auto repaired = check_job(true);
    INFO("repair: " << repaired.dump());
    CHECK(repaired.at("repaired").get<uint64_t>() == repaired.at("differences").get<uint64_t>());
    CHECK(check_job(false).at("consistent").get<bool>());

    // The same cut, repaired by the background round alone.
    cut_writes("cut-3", "cut-4");
    start({}, background_config_);
    await_in_sync();
    REQUIRE(eventually([&] {
      auto m = call("GET", "/metrics");
      return m && metric(m->body, "lifeline_repair_repaired_total", {R"(backend="postgres")"}) >= 1
             && metric(m->body, "lifeline_repair_rounds_total", {R"(trigger="background")"}) >= 2;
    }, std::chrono::seconds(120)));
    CHECK(check_job(false).at("consistent").get<bool>());
    server_->stop();

    // The cut writes were never acknowledged: settle them, then every
    // acknowledged write must be on both backends.
    start();
    await_in_sync();
    settle_ambiguous();
    await_in_sync();
    compare_through_check();
    server_->stop();
    for (auto* only : {"postgres", "vectors"}) compare_alone(only);
  }

  /// Issue 12: PostgreSQL's handoff log passes its handoff_limit_mb (1 MiB
  /// here) while PostgreSQL is down: the log is dropped, writes stay
  /// acknowledged, the server is killed -9 while PostgreSQL is still down,
  /// and when it is back the rebuild copies every acknowledged write.
  void run_past_cap(int steps) {
    config_ = data_.path() + "/cap.toml";
    std::ofstream{config_} << "attempt_timeout_ms = 300\nrequest_timeout_ms = 1500\n"
                           << "probe_interval_ms = 200\nprobe_timeout_ms = 500\n"
                           << "breaker_failures = 2\nbreaker_open_ms = 500\n"
                           << "[[backends]]\nname = \"postgres\"\nkind = \"postgres\"\n"
                           << "priority = 1\nhandoff_limit_mb = 1\nconninfo = \""
                           << serve_dsn(db_) << "\"\n"
                           << "[[backends]]\nname = \"vectors\"\nkind = \"hnsw\"\npriority = 2\n";
    begin();
    for (step_ = 0; step_ < steps; ++step_) random_operation();
    REQUIRE(pg_control("kill") == 0);
    pg_fault_ = "kill";
    event("PostgreSQL killed; writes of about 8 KiB until its log passes 1 MiB");
    auto resets = [&] {
      auto m = call("GET", "/metrics");
      return m ? metric(m->body, "lifeline_handoff_log_resets_total",
                        {R"(backend="postgres")", R"(reason="limit")"})
               : 0.0;
    };
    // 1 MiB holds about 130 such writes: 400 pass it with a wide margin.
    int big = 0;
    for (; big < 400 && resets() < 1; ++big, ++step_) {
      upsert({random_id()}, 8192);
      random_operation();
    }
    INFO("seed " << seed_ << ": " << big << " large writes; faults:" << events_);
    // (Health's last_error says so too, until a probe's error replaces it.)
    REQUIRE(resets() >= 1);
    event("the log passed the cap after " + std::to_string(big) + " large writes");
    for (int i = 0; i < steps; ++i, ++step_) random_operation();
    event("kill -9 the server (PostgreSQL still down), start it again");
    server_->kill();
    start();
    for (int i = 0; i < steps; ++i, ++step_) random_operation();
    end_faults();
    finish();
  }

  /// Issue 12: damage in the middle of a log, with valid records after it,
  /// while the server is killed: first PostgreSQL's handoff log (PostgreSQL
  /// down), then the vector store's write-ahead log. Each is set aside as
  /// *.damaged and its backend rebuilt from the other, with every
  /// acknowledged write.
  void run_damaged_logs(int steps) {
    begin();
    for (step_ = 0; step_ < steps; ++step_) random_operation();
    REQUIRE(pg_control("kill") == 0);
    pg_fault_ = "kill";
    event("PostgreSQL killed");
    for (int i = 0; i < steps; ++i, ++step_) random_operation();
    // At least two records in the log, so that valid ones follow the damage.
    for (int i = 0; i < 4; ++i, ++step_)
      REQUIRE(eventually([&] { return upsert({random_id()}); }));
    server_->kill();
    auto hints = data_.path() + "/handoff/postgres";
    event("kill -9 the server; " + damage_mid_log(largest_segment(hints)));
    end_faults();
    start();
    await_in_sync();
    CHECK(has_damaged(hints));
    auto m = call("GET", "/metrics");
    REQUIRE(m);
    CHECK(metric(m->body, "lifeline_handoff_log_resets_total",
                 {R"(backend="postgres")", R"(reason="damaged")"}) >= 1);

    for (int i = 0; i < steps; ++i, ++step_) random_operation();
    for (int i = 0; i < 4; ++i, ++step_)
      REQUIRE(eventually([&] { return upsert({random_id()}); }));
    server_->kill();
    auto store = data_.path() + "/vectors";
    event("kill -9 the server; " + damage_mid_log(store + "/wal"));
    start();
    await_in_sync();
    CHECK(has_damaged(store));
    for (int i = 0; i < steps; ++i, ++step_) random_operation();
    finish();
  }

private:
  /// Starts the server and creates the collection.
  void begin() {
    start();
    await_in_sync();
    auto created = call("PUT", "/v1/collections/c", R"({"dimension":4})");
    REQUIRE(created);
    REQUIRE(created->status == 201);
  }

  /// Settles the ambiguous writes and compares every backend with the model.
  void finish() {
    WARN("seed " << seed_ << ": " << step_ << " operations, " << ambiguous_.size()
                 << " documents with an unknown outcome to settle; faults:" << events_);
    await_in_sync();
    settle_ambiguous();
    await_in_sync();
    compare_through_check();
    server_->stop();
    for (auto* only : {"postgres", "vectors"}) compare_alone(only);
  }

  // -- damaged logs ----------------------------------------------------------------

  /// Offsets of the intact records of a log file ([u32 length][u32 CRC]
  /// [payload], io/record_log.hpp; a zero length ends them).
  static std::vector<size_t> record_offsets(const std::string& bytes) {
    std::vector<size_t> offsets;
    size_t at = 0;
    while (at + 8 <= bytes.size()) {
      uint32_t len = 0;
      std::memcpy(&len, bytes.data() + at, 4);
      if (len == 0 || len > bytes.size() - at - 8) break;
      offsets.push_back(at);
      at += 8 + len;
    }
    return offsets;
  }

  static std::string read_bytes(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, {}};
  }

  /// The hints-<n>.log segment with the most records.
  static std::string largest_segment(const std::string& directory) {
    std::string best;
    size_t most = 0;
    for (auto& e : std::filesystem::directory_iterator{directory}) {
      auto name = e.path().filename().string();
      if (name.rfind("hints-", 0) != 0 || !name.ends_with(".log")) continue;
      auto n = record_offsets(read_bytes(e.path().string())).size();
      if (n > most) most = n, best = e.path().string();
    }
    INFO("no handoff segment with records in " << directory);
    REQUIRE(most > 0);
    return best;
  }

  /// Flips a payload byte of a record in the middle of `path`, so that
  /// valid records follow the damage (damage, not a torn tail).
  std::string damage_mid_log(const std::string& path) {
    auto offsets = record_offsets(read_bytes(path));
    INFO(path << " holds " << offsets.size() << " records");
    REQUIRE(offsets.size() >= 2);
    auto victim = offsets[(offsets.size() - 1) / 2];
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekg(std::streamoff(victim + 8));
    char c = 0;
    f.get(c);
    f.seekp(std::streamoff(victim + 8));
    f.put(char(c ^ 0x5a));
    REQUIRE(f.good());
    return "damaged record " + std::to_string((offsets.size() - 1) / 2) + " of "
           + std::to_string(offsets.size()) + " in " + path;
  }

  /// Whether something in `directory` was set aside as damaged.
  static bool has_damaged(const std::string& directory) {
    for (auto& e : std::filesystem::directory_iterator{directory})
      if (e.path().filename().string().ends_with(".damaged")) return true;
    return false;
  }

  // -- the server --------------------------------------------------------------

  void start(std::vector<std::string> extra = {}, std::string config = {}) {
    std::vector<std::string> args{"--config", config.empty() ? config_ : config, "--data-dir",
                                  data_.path(), "--log-level", "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<server_process>(args);
    client_ = std::make_unique<http_client>(local_client(server_->port()));
  }

  std::optional<http_response> call(const std::string& method, const std::string& target,
                                    const std::string& body = {}) {
    try {
      return client_->request(method, target, body);
    } catch (const api::http_error&) {
      return std::nullopt; // no reply; the next call opens a new connection
    }
  }

  void await_in_sync() {
    INFO("seed " << seed_ << ": the backends did not all come back in sync");
    REQUIRE(eventually([&] {
      auto h = call("GET", "/v1/health");
      return h && h->status == 200 && h->body.find(R"("status":"ok")") != std::string::npos
             && h->body.find(R"("pending":0,)") != std::string::npos;
    }));
  }

  /// The sum of a metric's series whose labels contain every one of `labels`.
  static double metric(const std::string& text, const std::string& name,
                       std::vector<std::string> labels) {
    double sum = 0;
    size_t at = 0;
    while (at < text.size()) {
      auto end = text.find('\n', at);
      if (end == std::string::npos) end = text.size();
      auto line = text.substr(at, end - at);
      at = end + 1;
      if (line.rfind(name + "{", 0) != 0) continue;
      bool all = true;
      for (auto& l : labels) all = all && line.find(l) != std::string::npos;
      if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  /// Runs a check job (POST, then polls its status URL); its report.
  json check_job(bool repair) {
    auto r = call("POST", std::string{"/v1/admin/check"} + (repair ? "?repair=true" : ""));
    REQUIRE(r);
    REQUIRE(r->status == 202);
    auto url = json::parse(r->body).at("status").get<std::string>();
    json status;
    REQUIRE(eventually([&] {
      auto s = call("GET", url);
      if (!s || s->status != 200) return false;
      status = json::parse(s->body);
      return status.at("state") == "done";
    }, std::chrono::seconds(120)));
    return status.at("report");
  }

  /// Two writes through a server whose PostgreSQL is frozen: the first
  /// hangs in PostgreSQL's one connection, the second waits behind it; the
  /// vector store applies both. The server is killed -9 before either is
  /// handed off, and PostgreSQL resumes. Both are ambiguous (never
  /// acknowledged); at least the second is on the vector store only.
  void cut_writes(const std::string& first, const std::string& second) {
    auto upserts = [&] {
      auto m = call("GET", "/metrics");
      return m ? metric(m->body, "lifeline_backend_requests_total",
                        {R"(backend="vectors")", R"(operation="upsert")", R"(outcome="success")"})
               : -1.0;
    };
    auto before = upserts();
    REQUIRE(before >= 0);
    REQUIRE(pg_control("pause") == 0);
    pg_fault_ = "pause";
    auto port = server_->port();
    auto write = [port](std::string id, std::string body) {
      return std::thread([port, id, body] {
        try {
          local_client(port).request("PUT", "/v1/collections/c/documents/" + id, body);
        } catch (const std::exception&) {
          // The server is killed under it: no reply is expected.
        }
      });
    };
    auto w1 = write(first, document_json(first, "cut " + first).dump());
    REQUIRE(eventually([&] { return upserts() >= before + 1; }));
    auto w2 = write(second, document_json(second, "cut " + second).dump());
    REQUIRE(eventually([&] { return upserts() >= before + 2; }));
    server_->kill();
    w1.join();
    w2.join();
    ambiguous_.insert(first);
    ambiguous_.insert(second);
    REQUIRE(pg_control("resume") == 0);
    pg_fault_.clear();
    event("writes " + first + " and " + second + " cut between their sends by kill -9");
  }

  // -- faults --------------------------------------------------------------------

  enum class fault_kind { pg_kill, pg_pause, crash_vectors, kill_server, restart_server };

  /// Every kind of fault, several times, in a seeded order at seeded steps
  /// (a PostgreSQL fault lasts 5 to 40 steps and may span other faults).
  void plan_faults(int steps) {
    std::vector<fault_kind> kinds{fault_kind::pg_kill,       fault_kind::pg_pause,
                                  fault_kind::crash_vectors, fault_kind::kill_server,
                                  fault_kind::restart_server};
    std::vector<fault_kind> plan;
    for (int round = 0; round < 3; ++round) plan.insert(plan.end(), kinds.begin(), kinds.end());
    std::shuffle(plan.begin(), plan.end(), rng_);
    int gap = steps / int(plan.size() + 1);
    for (size_t i = 0; i < plan.size(); ++i)
      schedule_[gap * int(i + 1) + int(rng_() % uint64_t(gap / 2))] = plan[i];
  }

  void maybe_fault() {
    if (!pg_fault_.empty() && step_ >= pg_fault_end_) end_faults();
    auto it = schedule_.find(step_);
    if (it == schedule_.end()) return;
    switch (it->second) {
      case fault_kind::pg_kill:
      case fault_kind::pg_pause:
        end_faults();
        pg_fault_ = it->second == fault_kind::pg_kill ? "kill" : "pause";
        pg_fault_end_ = step_ + 5 + int(rng_() % 36);
        event("PostgreSQL " + pg_fault_ + " until step " + std::to_string(pg_fault_end_));
        REQUIRE(pg_control(pg_fault_) == 0);
        break;
      case fault_kind::crash_vectors:
        event("crash the vector backend's actor");
        (void)call("POST", "/v1/admin/backends/vectors/restart"); // 503 if it is down
        break;
      case fault_kind::kill_server:
        event("kill -9 the server, start it again");
        server_->kill();
        start();
        break;
      case fault_kind::restart_server:
        event("restart the server gracefully");
        CHECK(server_->stop() == 0);
        start();
        break;
    }
  }

  void event(const std::string& what) {
    events_ += "\n  step " + std::to_string(step_) + ": " + what;
  }

  void end_faults() {
    if (pg_fault_ == "kill") REQUIRE(pg_control("start") == 0);
    if (pg_fault_ == "pause") REQUIRE(pg_control("resume") == 0);
    if (!pg_fault_.empty()) event("PostgreSQL back");
    pg_fault_.clear();
  }

  // -- operations and the model ----------------------------------------------------

  void random_operation() {
    auto pick = std::uniform_int_distribution<int>{0, 99}(rng_);
    if (pick < 55) upsert({random_id()});
    else if (pick < 65) upsert(random_ids(2 + int(rng_() % 4)));
    else if (pick < 85) remove(random_id());
    else read(random_id());
  }

  std::string random_id() { return "doc-" + std::to_string(rng_() % 60); }

  std::vector<std::string> random_ids(int n) {
    std::set<std::string> ids;
    while (int(ids.size()) < n) ids.insert(random_id());
    return {ids.begin(), ids.end()};
  }

  json document_json(const std::string& id, const std::string& content) {
    std::uniform_real_distribution<float> x{-1, 1};
    return json{{"id", id}, {"vector", {x(rng_), x(rng_), x(rng_), x(rng_)}}, {"content", content}};
  }

  /// Returns true if the write was acknowledged.
  bool upsert(const std::vector<std::string>& ids, size_t padding = 0) {
    auto content = "seed " + std::to_string(seed_) + " write " + std::to_string(++writes_);
    content += std::string(padding, char('a' + writes_ % 26));
    json batch = json::array();
    for (auto& id : ids) batch.push_back(document_json(id, content));
    auto r = ids.size() == 1
               ? call("PUT", "/v1/collections/c/documents/" + ids[0], batch[0].dump())
               : call("POST", "/v1/collections/c/documents", json{{"documents", batch}}.dump());
    if (r && r->status == 200) {
      auto version = json::parse(r->body).at("version").get<uint64_t>();
      for (auto& id : ids) {
        model_[id] = model_doc{true, version, content};
        ambiguous_.erase(id);
      }
      return true;
    }
    INFO("seed " << seed_ << " step " << step_ << ": " << (r ? r->body : "no reply"));
    REQUIRE((!r || r->status >= 500)); // valid input: never a 4xx
    for (auto& id : ids) ambiguous_.insert(id);
    return false;
  }

  void remove(const std::string& id) {
    auto r = call("DELETE", "/v1/collections/c/documents/" + id);
    if (r && (r->status == 200 || r->status == 404)) {
      // 404: no backend held it live; either way it is deleted now.
      model_[id] = model_doc{false, 0, {}};
      ambiguous_.erase(id);
      return;
    }
    INFO("seed " << seed_ << " step " << step_ << ": " << (r ? r->body : "no reply"));
    REQUIRE((!r || r->status >= 500));
    ambiguous_.insert(id);
  }

  /// A read never returns stale or made-up data: the acknowledged state,
  /// or a controlled error.
  void read(const std::string& id) {
    auto r = call("GET", "/v1/collections/c/documents/" + id);
    if (!r || r->status >= 500 || ambiguous_.count(id)) return;
    INFO("seed " << seed_ << " step " << step_ << ": GET " << id << " -> " << r->status << " "
                 << r->body << " via " << r->header("x-served-by"));
    auto it = model_.find(id);
    if (it == model_.end() || !it->second.live) {
      CHECK(r->status == 404);
      return;
    }
    REQUIRE(r->status == 200);
    auto doc = json::parse(r->body);
    CHECK(doc.at("version").get<uint64_t>() == it->second.version);
    CHECK(doc.at("content").get<std::string>() == it->second.content);
  }

  /// Writes every ambiguous document once more until acknowledged.
  void settle_ambiguous() {
    for (auto id : std::set<std::string>{ambiguous_}) {
      INFO("seed " << seed_ << ": settling " << id);
      REQUIRE(eventually([&] { return upsert({id}); }));
    }
    REQUIRE(ambiguous_.empty());
  }

  size_t live_count() const {
    size_t n = 0;
    for (auto& [id, d] : model_) n += d.live ? 1 : 0;
    return n;
  }

  // -- the comparison -------------------------------------------------------------------

  void compare_through_check() {
    auto r = call("GET", "/v1/admin/check");
    REQUIRE(r);
    INFO("seed " << seed_ << ": " << r->body);
    REQUIRE(r->status == 200);
    auto report = json::parse(r->body);
    CHECK(report.at("consistent").get<bool>());
    REQUIRE(report.at("collections").size() == 1);
    for (auto& [backend, count] : report.at("collections")[0].at("counts").items())
      CHECK(count.get<size_t>() == live_count());
    // The operator command says the same, with its exit code.
    auto command = std::string{LIFELINE_SERVER} + " check --url http://127.0.0.1:"
                   + std::to_string(server_->port()) + " >/dev/null";
    auto status = std::system(command.c_str());
    CHECK(WEXITSTATUS(status) == 0);
  }

  /// Every document of the model, read from one backend alone.
  void compare_alone(const std::string& backend) {
    start({"--backends", backend});
    await_in_sync();
    INFO("seed " << seed_ << ": reading from " << backend << " alone");
    auto stats = call("GET", "/v1/collections/c");
    REQUIRE(stats);
    REQUIRE(stats->status == 200);
    CHECK(json::parse(stats->body).at("count").get<size_t>() == live_count());
    for (auto& [id, want] : model_) {
      auto r = call("GET", "/v1/collections/c/documents/" + id);
      REQUIRE(r);
      INFO(id << " -> " << r->status << " " << r->body);
      if (!want.live) {
        CHECK(r->status == 404);
        continue;
      }
      REQUIRE(r->status == 200);
      auto doc = json::parse(r->body);
      CHECK(doc.at("version").get<uint64_t>() == want.version);
      CHECK(doc.at("content").get<std::string>() == want.content);
    }
    CHECK(server_->stop() == 0);
  }

  uint64_t seed_;
  std::mt19937_64 rng_;
  temp_dir data_;
  scratch_database db_;
  std::string config_;
  std::string cut_config_;        ///< run_cut_writes: PostgreSQL with one connection.
  std::string background_config_; ///< The same with a background repair every 500 ms.
  std::unique_ptr<server_process> server_;
  std::unique_ptr<http_client> client_;
  std::map<std::string, model_doc> model_;
  std::set<std::string> ambiguous_;
  std::string pg_fault_; ///< "kill" or "pause" while one lasts.
  std::map<int, fault_kind> schedule_;
  std::string events_;
  int pg_fault_end_ = 0;
  int step_ = 0;
  uint64_t writes_ = 0;
};

} // namespace

// Each seed is its own test (and ctest entry). LIFELINE_FAULT_SEED runs one
// more, e.g. to reproduce a failure seen elsewhere.
TEST_CASE("faults: seed 1: backends converge on every acknowledged write", "[faults]") {
  fault_run{1}.run(500);
}

TEST_CASE("faults: seed 2: backends converge on every acknowledged write", "[faults]") {
  fault_run{2}.run(500);
}

TEST_CASE("faults: seed 3: backends converge on every acknowledged write", "[faults]") {
  fault_run{3}.run(500);
}

TEST_CASE("faults: seed 4: backends converge on every acknowledged write", "[faults]") {
  fault_run{4}.run(500);
}

TEST_CASE("faults: seed 5: backends converge on every acknowledged write", "[faults]") {
  fault_run{5}.run(500);
}

TEST_CASE("faults: repair: writes cut between two sends by kill -9 are found and repaired",
          "[faults][repair]") {
  fault_run{7}.run_cut_writes(100);
}

TEST_CASE("faults: cap: seed 8: a handoff log past handoff_limit_mb is dropped and its backend "
          "rebuilt with every acknowledged write", "[faults]") {
  fault_run{8}.run_past_cap(60);
}

TEST_CASE("faults: cap: seed 10: a handoff log past handoff_limit_mb is dropped and its backend "
          "rebuilt with every acknowledged write", "[faults]") {
  fault_run{10}.run_past_cap(60);
}

TEST_CASE("faults: damage: seed 9: a handoff log and a vector store log damaged mid-log are set "
          "aside and rebuilt with every acknowledged write", "[faults]") {
  fault_run{9}.run_damaged_logs(60);
}

TEST_CASE("faults: damage: seed 11: a handoff log and a vector store log damaged mid-log are set "
          "aside and rebuilt with every acknowledged write", "[faults]") {
  fault_run{11}.run_damaged_logs(60);
}

TEST_CASE("faults: the seed in LIFELINE_FAULT_SEED", "[.faults-env]") {
  const char* seed = std::getenv("LIFELINE_FAULT_SEED");
  REQUIRE(seed != nullptr);
  fault_run{std::stoull(seed)}.run(500);
}
