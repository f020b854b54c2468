// The names of the state enums (metric labels, health fields, logs).
#include "core/states.hpp"

namespace lifeline {

std::string_view to_string(circuit_state s) {
  switch (s) {
    case circuit_state::closed: return "closed";
    case circuit_state::open: return "open";
    case circuit_state::half_open: return "half_open";
  }
  return "unknown";
}

std::string_view to_string(call_outcome o) {
  switch (o) {
    case call_outcome::success: return "success";
    case call_outcome::client_error: return "client_error";
    case call_outcome::failure: return "failure";
    case call_outcome::timeout: return "timeout";
    case call_outcome::damaged_document: return "damaged_document";
  }
  return "unknown";
}

std::string_view to_string(lifecycle_state s) {
  switch (s) {
    case lifecycle_state::starting: return "starting";
    case lifecycle_state::up: return "up";
    case lifecycle_state::restarting: return "restarting";
    case lifecycle_state::failed: return "failed";
    case lifecycle_state::stopped: return "stopped";
  }
  return "unknown";
}

std::string_view to_string(replica_state s) {
  switch (s) {
    case replica_state::in_sync: return "in_sync";
    case replica_state::catching_up: return "catching_up";
    case replica_state::rebuilding: return "rebuilding";
  }
  return "unknown";
}

std::string_view to_string(handoff_event e) {
  switch (e) {
    case handoff_event::appended: return "appended";
    case handoff_event::replayed: return "replayed";
    case handoff_event::failed: return "failed";
    case handoff_event::dropped: return "dropped";
  }
  return "unknown";
}

} // namespace lifeline
