// Why: a backend's handoff log holds writes that were acknowledged to
// clients but not yet applied to that backend; it is read back at every
// start, after crashes, from a file a torn write or a bad disk may have
// damaged. Opening and reading it must give entries or an error, never a
// crash, an over-read or an unbounded allocation, and what it gives back
// must be what was written.
//
// Input: fields separated by a 0xFF byte: [mode][cursor file][log data].
//   mode (first byte of the first field, even or odd):
//     even: the log data is the hints file as stored;
//     odd:  the log data is chunks [u16 length][payload], framed with valid
//           CRCs (leftover bytes: a torn tail), so payloads reach decode().
//   cursor file: the text of <dir>/cursor; no cursor file if empty.
// The log file is hints-0.log (the generation a missing cursor means). The
// target opens the log, peeks every entry in pages, appends them to a fresh
// log, reopens that one and checks it reads back the same entries.
#include "fuzz/fuzz_support.hpp"
#include "replication/handoff_log.hpp"

#include <cstring>

using namespace lifeline;
using lifeline::fuzz::fail;

namespace {

/// Equal, comparing floats bit for bit (a NaN read back is the same NaN).
bool same(const std::vector<handoff_entry>& a, const std::vector<handoff_entry>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto& x = a[i];
    auto& y = b[i];
    if (x.op != y.op || x.collection != y.collection || x.spec != y.spec || x.id != y.id
        || x.version != y.version || x.docs.size() != y.docs.size())
      return false;
    for (size_t j = 0; j < x.docs.size(); ++j) {
      auto& d = x.docs[j];
      auto& e = y.docs[j];
      if (d.id != e.id || d.content != e.content || d.metadata != e.metadata
          || d.version != e.version || d.vector.size() != e.vector.size()
          // Bit for bit (NaN payloads included); an empty vector's data() may
          // be null, which memcmp must not get even for 0 bytes.
          || (!d.vector.empty()
              && std::memcmp(d.vector.data(), e.vector.data(), d.vector.size() * sizeof(float)) != 0))
        return false;
    }
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto fields = lifeline::fuzz::split_fields({reinterpret_cast<const char*>(data), size}, 3);
  bool framed = !fields[0].empty() && (uint8_t(fields[0][0]) & 1);
  auto dir = lifeline::fuzz::fresh_dir("handoff");
  if (!fields[1].empty()) lifeline::fuzz::write_bytes(dir + "/cursor", fields[1]);
  lifeline::fuzz::write_bytes(dir + "/hints-0.log",
                              framed ? lifeline::fuzz::frame_chunks(fields[2]) : fields[2]);
  auto log = handoff_log::open(dir);
  if (!log) return 0; // refused as damaged: fine
  // Every entry, in pages of 3 (consuming as a replay does, which also
  // exercises the cursor and the rotation to the next generation).
  std::vector<handoff_entry> entries;
  uint64_t pending = (*log)->pending();
  for (int rounds = 0; rounds < 100000; ++rounds) {
    auto batch = (*log)->peek(3, 1 << 16);
    if (!batch) return 0; // damage found while reading: an error, fine
    if (batch->entries.empty()) break;
    for (auto& e : batch->entries) {
      if (e.op < handoff_entry::kind::create || e.op > handoff_entry::kind::remove)
        fail("an entry of an unknown kind");
      if (e.op == handoff_entry::kind::create && uint8_t(e.spec.metric) > 2)
        fail("a create entry with an unknown metric");
    }
    entries.insert(entries.end(), batch->entries.begin(), batch->entries.end());
    if (auto ok = (*log)->consume(batch->end_offset, batch->entries.size()); !ok)
      fail("consume failed: " + ok.error().message);
  }
  if (entries.size() != pending) fail("pending() did not count the entries read");
  if ((*log)->pending() != 0) fail("pending() is not 0 once every entry is consumed");
  log->reset();
  // What was read encodes and decodes to the same entries.
  auto copy_dir = lifeline::fuzz::fresh_dir("handoff-copy");
  {
    auto copy = handoff_log::open(copy_dir);
    if (!copy) fail("cannot open a fresh log: " + copy.error().message);
    if (!entries.empty())
      if (auto ok = (*copy)->append(entries); !ok) fail("append failed: " + ok.error().message);
  }
  auto copy = handoff_log::open(copy_dir);
  if (!copy) fail("a log does not reopen after an append: " + copy.error().message);
  auto back = (*copy)->peek(entries.size() + 1, size_t(1) << 40);
  if (!back) fail("a freshly written log does not read back: " + back.error().message);
  if (!same(back->entries, entries)) fail("entries do not survive append + reopen + peek");
  return 0;
}
