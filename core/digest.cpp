#include "core/digest.hpp"

namespace lifeline {

namespace {

constexpr uint64_t fnv_prime = 1099511628211ull;

void mix(uint64_t& h, unsigned char byte) {
  h ^= byte;
  h *= fnv_prime;
}

} // namespace

void digest_builder::add(const version_entry& e) {
  auto& h = digest_.hash;
  for (unsigned char c : e.id) mix(h, c);
  mix(h, 0); // ids hold no NUL, so this ends the id unambiguously
  for (int i = 0; i < 8; ++i) mix(h, static_cast<unsigned char>(e.version >> (8 * i)));
  mix(h, e.deleted ? 1 : 0);
  ++digest_.count;
  digest_.last = e.id;
}

range_digest digest_of(const std::vector<version_entry>& entries) {
  digest_builder b;
  for (auto& e : entries) b.add(e);
  return b.result();
}

} // namespace lifeline
