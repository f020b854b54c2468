// The registry behind LIFELINE_CONTRACT and LIFELINE_CONTRACT_CASE: crosses
// every kind with every case and hands each pair to Catch as a test case of
// its own, so that ctest runs, names and reports them one by one.
#include "contract.hpp"

#include <deque>
#include <string>

namespace lifeline::testing::contract {

namespace {

struct kind_entry {
  std::string name;
  fixture_factory make;
};

struct case_entry {
  std::string what;
  std::string tags;
  case_body body;
  const char* file; // a string literal (__FILE__): lives as long as the program
  std::size_t line;
};

/// Runs one case against a fresh backend of one kind.
class invoker final : public Catch::ITestInvoker {
public:
  invoker(fixture_factory make, case_body body) : make_(std::move(make)), body_(body) {}
  void invoke() const override {
    auto fixture = make_();
    REQUIRE(fixture);
    body_(fixture->store());
  }

private:
  fixture_factory make_;
  case_body body_;
};

// Function-local statics: registration runs during static initialisation,
// in an order between files that C++ leaves open.
std::deque<kind_entry>& kinds() {
  static std::deque<kind_entry> all;
  return all;
}
std::deque<case_entry>& cases() {
  static std::deque<case_entry> all;
  return all;
}

void register_pair(const kind_entry& k, const case_entry& c) {
  auto name = "contract: " + k.name + ": " + c.what;
  auto tags = "[contract][" + k.name + "]" + c.tags;
  // Catch copies the name and tags into the test case it makes.
  Catch::AutoReg{new invoker(k.make, c.body), Catch::SourceLineInfo{c.file, c.line},
                 Catch::StringRef{}, Catch::NameAndTags{name, tags}};
}

} // namespace

bool register_kind(const char* kind, fixture_factory make) {
  auto& k = kinds().emplace_back(kind_entry{kind, std::move(make)});
  for (auto& c : cases()) register_pair(k, c);
  return true;
}

bool register_case(const char* what, const char* tags, case_body body, const char* file,
                   std::size_t line) {
  auto& c = cases().emplace_back(case_entry{what, tags, body, file, line});
  for (auto& k : kinds()) register_pair(k, c);
  return true;
}

} // namespace lifeline::testing::contract
