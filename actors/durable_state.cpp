#include "actors/durable_state.hpp"

#include "actors/errors.hpp"
#include "io/atomic_file.hpp"
#include "io/files.hpp"
#include "core/log.hpp"
#include "replication/version_clock.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

namespace lifeline {

namespace {

struct durable_state_state {
  std::string root;
  static inline const char* name = "lifeline.durable_state";
};

using durable_state_pointer = durable_state_actor::stateful_pointer<durable_state_state>;

std::string ceiling_path(const std::string& root) { return root + "/version"; }

std::string marker_path(const std::string& root, const std::string& backend) {
  return backend_directory(root, backend) + "/replica";
}

caf::error io_failure(const std::string& what, const backend_error& e) {
  return caf::error{errc::backend_error, what + ": " + e.message};
}

/// Stores `marker` as backend's marker ("" removes it), synced to disk.
caf::result<ok_atom> store_marker(const std::string& root, const std::string& backend,
                                  const std::string& marker) {
  auto dir = backend_directory(root, backend);
  auto path = marker_path(root, backend);
  if (!marker.empty()) {
    if (auto ok = io::write_file_atomic(path, marker); !ok) return io_failure("marker", ok.error());
    return ok_atom::value;
  }
  // Removing a file still works on a full disk.
  if (std::remove(path.c_str()) != 0) return ok_atom::value; // none stored
  if (auto ok = io::sync_dir(dir); !ok) return io_failure("marker", ok.error());
  return ok_atom::value;
}

durable_state_actor::behavior_type durable_state(durable_state_pointer self, std::string root) {
  self->state.root = std::move(root);
  std::error_code ec;
  std::filesystem::create_directories(self->state.root, ec);
  return {
    [self](ceiling_atom) -> caf::result<uint64_t> {
      auto stored = read_version_ceiling(ceiling_path(self->state.root));
      if (!stored) return io_failure("version file", stored.error());
      return *stored;
    },
    [self](ceiling_atom, uint64_t ceiling) -> caf::result<uint64_t> {
      auto ok = store_version_ceiling(ceiling_path(self->state.root), ceiling);
      if (!ok) return io_failure("cannot store the version ceiling", ok.error());
      return ceiling;
    },
    [self](marker_atom, const std::string& backend) -> caf::result<std::string> {
      auto text = io::read_file_if_exists(marker_path(self->state.root, backend));
      if (!text) return io_failure("marker of " + backend, text.error());
      return *text;
    },
    [self](marker_atom, const std::string& backend,
           const std::string& marker) -> caf::result<ok_atom> {
      return store_marker(self->state.root, backend, marker);
    },
  };
}

} // namespace

std::string backend_directory(const std::string& root, const std::string& name) {
  return root + "/" + name;
}

durable_state_actor spawn_durable_state(caf::actor_system& sys, std::string root, bool detached) {
  if (detached) return sys.spawn<caf::detached>(durable_state, std::move(root));
  return sys.spawn(durable_state, std::move(root));
}

} // namespace lifeline
