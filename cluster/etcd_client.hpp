// A small client of etcd v3's JSON gateway (issue 16): leases, reads, puts
// and transactions over HTTP/1.1 with api's synchronous client. etcd is the
// one place where Lifeline needs consensus (who the write leader is, and the
// version ceiling that leader may hand out); everything else stays on CAF and
// PostgreSQL. Keys and values travel base64-encoded, 64-bit numbers as JSON
// strings, as the gateway does. Every call is bounded by the client's
// timeout; a connection failure moves on to the next endpoint. No CAF here.
#pragma once

#include "core/expected.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lifeline::cluster {

struct etcd_kv {
  std::string key;
  std::string value;
  int64_t create_revision = 0; ///< 0: the key does not exist.
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

/// One comparison of a transaction: `key`'s create or mod revision, or its
/// value, is equal to the given one (etcd's Compare with result EQUAL).
struct etcd_compare {
  enum class field { create_revision, mod_revision, value };
  std::string key;
  field what = field::create_revision;
  int64_t revision = 0; ///< For the revision fields (0 on create: absent).
  std::string value;    ///< For field::value.
};

struct etcd_put {
  std::string key;
  std::string value;
  int64_t lease = 0; ///< 0: none.
};

struct etcd_txn_result {
  bool succeeded = false;
  int64_t revision = 0;
  /// On failure: the keys asked to read then, in order (nullopt: absent).
  std::vector<std::optional<etcd_kv>> read;
};

std::string base64_encode(std::string_view bytes);
/// nullopt for text that is not base64.
std::optional<std::string> base64_decode(std::string_view text);

class etcd_client {
public:
  /// `endpoints`: "http://host:port" of the members (at least one).
  etcd_client(std::vector<std::string> endpoints, std::chrono::milliseconds timeout);
  ~etcd_client();
  etcd_client(const etcd_client&) = delete;
  etcd_client& operator=(const etcd_client&) = delete;

  /// A new lease of `ttl`: its id.
  expected<int64_t> grant(std::chrono::seconds ttl);
  /// Renews a lease: the seconds it has left now (0: it had expired).
  expected<int64_t> keepalive(int64_t lease);
  /// Ends a lease and deletes the keys attached to it.
  expected<void> revoke(int64_t lease);
  expected<std::optional<etcd_kv>> get(const std::string& key);
  /// If every comparison holds, applies every put; else reads `read_on_failure`.
  expected<etcd_txn_result> txn(const std::vector<etcd_compare>& compares,
                                const std::vector<etcd_put>& puts,
                                const std::vector<std::string>& read_on_failure = {});

private:
  /// POSTs `body` to `path` on the first endpoint that answers; the reply
  /// body of a 200, else an error (backend_unavailable when none answered).
  expected<std::string> post(const std::string& path, const std::string& body);

  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace lifeline::cluster
