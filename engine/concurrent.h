// Runs independent pieces of work, each on its own context, concurrently where
// the device allows: the two directions of a bidirectional LSTM layer.
#pragma once

#include <cstddef>
#include <functional>
#include <span>

#include "engine/context.h"

namespace skipper {

// Calls task(i) for every i in [0, contexts.size()); task(i) queues its ops on
// *contexts[i].
// - CUDA: in order on the host; the contexts' streams run the work concurrently.
// - CPU: with at least as many threads as tasks, one OpenMP thread per task.
//   The ops inside then run on that one thread (nested OpenMP regions are
//   inactive and OpenBLAS runs single-threaded inside a parallel region), so
//   the cores are split between the tasks, never oversubscribed, and the
//   small per-step ops pay no fork/join. Otherwise in order.
// An exception from any task is rethrown after every task has finished.
void run_concurrently(std::span<Context* const> contexts, const std::function<void(size_t)>& task);

}  // namespace skipper
