// The load: a mix of operations, closed-loop at a concurrency or open-loop
// at a rate, against a target (the HTTP API, or the coordinator in-process).
// Every request becomes one sample; open-loop latency runs from the time the
// request was due, so a stall shows up in full instead of slowing the sender
// down (no coordinated omission).
#pragma once

#include "harness/dataset.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace lifeline::bench {

/// Appends `v` as a JSON array of numbers (shortest round-trip form).
void append_vector(std::string& out, std::span<const float> v);

enum class op_kind : uint8_t { get = 0, search = 1, upsert = 2, batch = 3 };
const char* to_string(op_kind k);

/// Weights per operation, e.g. "get:50,search:30,upsert:15,batch:5".
struct op_mix {
  std::vector<std::pair<op_kind, int>> weights;
  static op_mix parse(const std::string& text);
  op_kind pick(std::mt19937_64& rng) const;
  std::string describe() const;
};

/// Which backends a reply came from (X-Served-By), as bits.
enum served_bits : uint8_t { served_postgres = 1, served_vectors = 2, served_other = 4 };
uint8_t served_from(const std::string& header);

struct reply {
  uint16_t status = 0; ///< HTTP status; 0 if there was no reply at all.
  uint8_t served = 0;  ///< served_bits
};

struct sample {
  float sent_s = 0;     ///< When it was due (open loop) or sent (closed loop).
  float done_s = 0;
  float latency_ms = 0; ///< done - due.
  uint16_t status = 0;
  op_kind op = op_kind::get;
  uint8_t served = 0;
};

/// What the load talks to. One instance per worker thread.
class target {
public:
  virtual ~target() = default;
  virtual reply get(const std::string& id) = 0;
  virtual reply search(std::span<const float> q, uint32_t k) = 0;
  /// Upserts documents d<first>..d<first+count-1> with their vectors.
  virtual reply upsert(size_t first, size_t count, const std::string& content) = 0;
};

struct load_config {
  double seconds = 30;
  int concurrency = 8;
  double rate = 0; ///< Requests per second in total; 0: closed loop.
  op_mix mix;
  size_t docs = 0; ///< Documents loaded (ids d0..d<docs-1>).
  uint32_t batch = 50;
  uint32_t k = 10;
  uint64_t seed = 1;
};

/// Runs the load on `concurrency` threads; `tick` is called once a second
/// from another thread with the seconds elapsed and the samples done so far.
std::vector<sample> run_load(const load_config& cfg, const dataset& data,
                             const std::function<std::unique_ptr<target>()>& make_target,
                             const std::function<void(double, uint64_t, uint64_t)>& tick);

/// The HTTP API of a running server.
std::unique_ptr<target> http_target(const std::string& url, const std::string& token,
                                    const std::string& collection, const dataset& data);

} // namespace lifeline::bench
