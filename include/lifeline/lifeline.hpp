// Everything an embedding application needs: the actor protocol, the
// runtime that spawns the coordinator and supervised backends, and the
// backend interface with the in-memory store.
#pragma once

#include "actors/actors.hpp"
#include "actors/runtime.hpp"
#include "backends/backend.hpp"
#include "backends/memory_backend.hpp"
#include "metrics/counting_metrics.hpp"
#include "core/log.hpp"
