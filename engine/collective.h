// The processes of one data-parallel job and the collectives between them.
// With MPI built (-DSKIPPER_MPI) and the program started by mpirun, every call
// goes through MPI_COMM_WORLD; otherwise the job is this one process and each
// collective is what it means for one rank (a sum of one value is that value).
// Host buffers go through MPI; CUDA tensors are summed with NCCL, the choice
// made in one place (allreduce_sum of a Tensor) on the tensor's device.
//
// Every rank must make the same collective calls in the same order. A failure
// on any rank ends the whole job (abort), so that no rank waits forever in a
// collective that a failed peer will never join.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"

namespace skipper::collective {

// MPI_Init at construction when this process was started by mpirun (an
// mpirun environment variable is set), MPI_Finalize at destruction; nothing
// otherwise, so a plain `skipper` never touches MPI. One per program, in main().
class Session {
public:
    Session(int& argc, char**& argv);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

private:
    bool initialized_ = false;
};

bool built_with_mpi();
bool built_with_nccl();
int rank();
int size();
inline bool is_root() { return rank() == 0; }

// In-place sums and maxima over every rank; each rank ends with the result.
// Integer sums are exact, so they do not depend on the order of the ranks.
void allreduce_sum(std::span<int64_t> values);
void allreduce_sum(std::span<double> values);
void allreduce_sum(std::span<float> values);
void allreduce_max(std::span<int64_t> values);
void allreduce_max(std::span<double> values);
// The elementwise sum of every rank's `values`, cut into size() blocks: rank r
// ends with block r in `block` (values.size() must be size() * block.size()).
void reduce_scatter_sum(std::span<const int64_t> values, std::span<int64_t> block);
// Every rank's `block`, concatenated in rank order into `values`
// (values.size() == size() * block.size()).
void allgather(std::span<const int64_t> block, std::span<int64_t> values);

// `bytes` from `root` to every rank (resized on the others).
void broadcast(std::vector<uint8_t>& bytes, int root = 0);
// Every rank's bytes, in rank order, on `root`; empty on the others.
std::vector<std::vector<uint8_t>> gather(std::span<const uint8_t> bytes, int root = 0);
void barrier();

// Blocks of bytes, one per rank in rank order: block r is
// bytes[offsets[r], offsets[r + 1]) (offsets holds size() + 1 entries).
struct RankBlocks {
    std::vector<uint8_t> bytes;
    std::vector<int64_t> offsets;
    std::span<const uint8_t> block(int r) const;
};
// The personalised exchange (MPI_Alltoallv): this rank's block r goes to rank
// r; it returns, in rank order, the block each rank sent to this one. With one
// process: `send` itself. Each rank sends and receives at most 2 GiB a call.
RankBlocks alltoallv(const RankBlocks& send);

// Ends every process of the job with `exit_code`; the caller prints its
// message first. Without MPI (or with one rank) this is std::exit.
[[noreturn]] void abort(int exit_code);

// Sums `tensor` (f32 or f64) across ranks in place: a host tensor through
// MPI, a CUDA tensor through NCCL on ctx's stream (the NCCL id broadcast from
// rank 0 through MPI).
void allreduce_sum(Context& ctx, Tensor& tensor);

// This process's collective traffic since the start: calls and payload bytes
// (the bytes each call reduces or moves, as the caller sees them; an
// allreduce's ring sends about 2 (N-1)/N times its payload per rank).
struct Traffic {
    int64_t calls = 0;
    int64_t bytes = 0;
};
Traffic traffic();

}  // namespace skipper::collective
