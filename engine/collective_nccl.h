// NCCL behind engine/collective.cpp: the sum of a CUDA tensor over every rank.
// Compiled to a real communicator only where CUDA, MPI and NCCL are all built
// (SKIPPER_HAS_NCCL); elsewhere a CUDA tensor with more than one rank is an error.
#pragma once

#include "engine/context.h"
#include "engine/tensor.h"

namespace skipper::collective {

// Sums `tensor` (on CUDA, f32 or f64) over MPI_COMM_WORLD's ranks in place, on
// ctx's stream. The communicator is made on first use: rank 0's ncclUniqueId
// is broadcast through MPI, and each rank uses the GPU its local rank selects.
void nccl_allreduce_sum(Context& ctx, Tensor& tensor);
// Each rank on a machine takes GPU (local rank % GPUs), before any CUDA
// allocation; nothing without a GPU.
void select_local_gpu();
// Destroys the communicator, before MPI_Finalize.
void release_nccl();

}  // namespace skipper::collective
