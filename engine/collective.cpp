#include "engine/collective.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "engine/collective_nccl.h"
#include "engine/error.h"

#if SKIPPER_HAS_MPI
#include <mpi.h>
#endif

namespace skipper::collective {

namespace {

Traffic g_traffic;

void count(size_t bytes) {
    ++g_traffic.calls;
    g_traffic.bytes += static_cast<int64_t>(bytes);
}

void check_blocks(size_t values, size_t block, const char* what) {
    if (values != static_cast<size_t>(size()) * block)
        throw Error(std::string("collective::") + what + ": " + std::to_string(values) + " values are not " +
                    std::to_string(size()) + " blocks of " + std::to_string(block));
}

#if SKIPPER_HAS_MPI

bool mpi_running() {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized != 0 && finalized == 0;
}

// More than one rank: the collectives go through MPI. With one, they are the
// identity, and a library user who never started MPI gets the same.
bool distributed() { return mpi_running() && size() > 1; }

// MPI_COMM_WORLD returns its errors (see Session), turned into exceptions here;
// the CLI then aborts the job with the message.
void check(int code, const char* call) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw Error(std::string(call) + " failed: " + std::string(text, static_cast<size_t>(length)));
}

template <class T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<int64_t>() { return MPI_INT64_T; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }

template <class T> void allreduce(std::span<T> values, MPI_Op op) {
    count(values.size_bytes());
    if (!distributed() || values.empty()) return;
    check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), mpi_type<T>(), op,
                        MPI_COMM_WORLD),
          "MPI_Allreduce");
}

// mpirun (Open MPI, MPICH, or a PMI/PMIx launcher such as srun) sets one of these.
bool started_by_mpirun() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
        if (std::getenv(name) != nullptr) return true;
    return false;
}

#else

bool mpi_running() { return false; }
bool distributed() { return false; }
template <class T> void allreduce(std::span<T> values, int) { count(values.size_bytes()); }

#endif

}  // namespace

Session::Session([[maybe_unused]] int& argc, [[maybe_unused]] char**& argv) {
#if SKIPPER_HAS_MPI
    if (!started_by_mpirun() || mpi_running()) return;
    // Only the main thread calls MPI (OpenMP threads never do).
    int provided = 0;
    check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    initialized_ = true;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    select_local_gpu();
#endif
}

Session::~Session() {
#if SKIPPER_HAS_MPI
    if (initialized_ && mpi_running()) {
        release_nccl();
        MPI_Finalize();
    }
#endif
}

bool built_with_mpi() { return SKIPPER_HAS_MPI != 0; }
bool built_with_nccl() { return SKIPPER_HAS_NCCL != 0; }

int rank() {
#if SKIPPER_HAS_MPI
    if (mpi_running()) {
        int value = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &value);
        return value;
    }
#endif
    return 0;
}

int size() {
#if SKIPPER_HAS_MPI
    if (mpi_running()) {
        int value = 1;
        MPI_Comm_size(MPI_COMM_WORLD, &value);
        return value;
    }
#endif
    return 1;
}

#if SKIPPER_HAS_MPI
void allreduce_sum(std::span<int64_t> values) { allreduce(values, MPI_SUM); }
void allreduce_sum(std::span<double> values) { allreduce(values, MPI_SUM); }
void allreduce_sum(std::span<float> values) { allreduce(values, MPI_SUM); }
void allreduce_max(std::span<int64_t> values) { allreduce(values, MPI_MAX); }
void allreduce_max(std::span<double> values) { allreduce(values, MPI_MAX); }
#else
void allreduce_sum(std::span<int64_t> values) { allreduce(values, 0); }
void allreduce_sum(std::span<double> values) { allreduce(values, 0); }
void allreduce_sum(std::span<float> values) { allreduce(values, 0); }
void allreduce_max(std::span<int64_t> values) { allreduce(values, 0); }
void allreduce_max(std::span<double> values) { allreduce(values, 0); }
#endif

void reduce_scatter_sum(std::span<const int64_t> values, std::span<int64_t> block) {
    check_blocks(values.size(), block.size(), "reduce_scatter_sum");
    count(values.size_bytes());
    if (!distributed()) {
        std::memcpy(block.data(), values.data(), block.size_bytes());
        return;
    }
#if SKIPPER_HAS_MPI
    check(MPI_Reduce_scatter_block(values.data(), block.data(), static_cast<int>(block.size()), MPI_INT64_T, MPI_SUM,
                                   MPI_COMM_WORLD),
          "MPI_Reduce_scatter_block");
#endif
}

void allgather(std::span<const int64_t> block, std::span<int64_t> values) {
    check_blocks(values.size(), block.size(), "allgather");
    count(values.size_bytes());
    if (!distributed()) {
        std::memcpy(values.data(), block.data(), block.size_bytes());
        return;
    }
#if SKIPPER_HAS_MPI
    check(MPI_Allgather(block.data(), static_cast<int>(block.size()), MPI_INT64_T, values.data(),
                        static_cast<int>(block.size()), MPI_INT64_T, MPI_COMM_WORLD),
          "MPI_Allgather");
#endif
}

void broadcast(std::vector<uint8_t>& bytes, [[maybe_unused]] int root) {
    if (!distributed()) {
        count(bytes.size());
        return;
    }
#if SKIPPER_HAS_MPI
    int64_t length = static_cast<int64_t>(bytes.size());
    check(MPI_Bcast(&length, 1, MPI_INT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
    bytes.resize(static_cast<size_t>(length));
    count(bytes.size());
    // MPI counts are int: large payloads go in pieces.
    constexpr int64_t kPiece = 1 << 30;
    for (int64_t begin = 0; begin < length; begin += kPiece)
        check(MPI_Bcast(bytes.data() + begin, static_cast<int>(std::min(kPiece, length - begin)), MPI_BYTE, root,
                        MPI_COMM_WORLD),
              "MPI_Bcast");
#endif
}

std::vector<std::vector<uint8_t>> gather(std::span<const uint8_t> bytes, [[maybe_unused]] int root) {
    count(bytes.size());
    if (!distributed()) return {std::vector<uint8_t>(bytes.begin(), bytes.end())};
    std::vector<std::vector<uint8_t>> out;
#if SKIPPER_HAS_MPI
    const int ranks = size();
    const bool at_root = rank() == root;
    int length = static_cast<int>(bytes.size());
    if (bytes.size() > static_cast<size_t>(INT32_MAX)) throw Error("collective::gather: over 2 GiB from one rank");
    std::vector<int> lengths(at_root ? static_cast<size_t>(ranks) : 0);
    check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
    std::vector<int> offsets(lengths.size());
    std::vector<uint8_t> all;
    if (at_root) {
        int64_t total = 0;
        for (size_t r = 0; r < lengths.size(); ++r) {
            if (total > INT32_MAX) throw Error("collective::gather: over 2 GiB in all");
            offsets[r] = static_cast<int>(total);
            total += lengths[r];
        }
        all.resize(static_cast<size_t>(total));
    }
    check(MPI_Gatherv(bytes.data(), length, MPI_BYTE, all.data(), lengths.data(), offsets.data(), MPI_BYTE, root,
                      MPI_COMM_WORLD),
          "MPI_Gatherv");
    if (at_root)
        for (size_t r = 0; r < lengths.size(); ++r)
            out.emplace_back(all.begin() + offsets[r], all.begin() + offsets[r] + lengths[r]);
#endif
    return out;
}

std::span<const uint8_t> RankBlocks::block(int r) const {
    const auto begin = static_cast<size_t>(offsets[static_cast<size_t>(r)]);
    const auto end = static_cast<size_t>(offsets[static_cast<size_t>(r) + 1]);
    return std::span(bytes).subspan(begin, end - begin);
}

RankBlocks alltoallv(const RankBlocks& send) {
    const int ranks = size();
    if (send.offsets.size() != static_cast<size_t>(ranks) + 1 || send.offsets.front() != 0 ||
        send.offsets.back() != static_cast<int64_t>(send.bytes.size()) ||
        !std::is_sorted(send.offsets.begin(), send.offsets.end()))
        throw Error("collective::alltoallv: the offsets do not cut " + std::to_string(send.bytes.size()) + " bytes into " +
                    std::to_string(ranks) + " blocks");
    count(send.bytes.size());
    if (!distributed()) return send;
    RankBlocks out;
#if SKIPPER_HAS_MPI
    // MPI counts and displacements are int.
    if (send.bytes.size() > static_cast<size_t>(INT32_MAX)) throw Error("collective::alltoallv: over 2 GiB from one rank");
    std::vector<int> send_counts(static_cast<size_t>(ranks)), send_offsets(static_cast<size_t>(ranks));
    for (size_t r = 0; r < send_counts.size(); ++r) {
        send_offsets[r] = static_cast<int>(send.offsets[r]);
        send_counts[r] = static_cast<int>(send.offsets[r + 1] - send.offsets[r]);
    }
    std::vector<int> receive_counts(static_cast<size_t>(ranks)), receive_offsets(static_cast<size_t>(ranks));
    check(MPI_Alltoall(send_counts.data(), 1, MPI_INT, receive_counts.data(), 1, MPI_INT, MPI_COMM_WORLD),
          "MPI_Alltoall");
    out.offsets.assign(static_cast<size_t>(ranks) + 1, 0);
    for (size_t r = 0; r < receive_counts.size(); ++r) {
        out.offsets[r + 1] = out.offsets[r] + receive_counts[r];
        if (out.offsets[r + 1] > INT32_MAX) throw Error("collective::alltoallv: over 2 GiB to one rank");
        receive_offsets[r] = static_cast<int>(out.offsets[r]);
    }
    out.bytes.resize(static_cast<size_t>(out.offsets.back()));
    check(MPI_Alltoallv(send.bytes.data(), send_counts.data(), send_offsets.data(), MPI_BYTE, out.bytes.data(),
                        receive_counts.data(), receive_offsets.data(), MPI_BYTE, MPI_COMM_WORLD),
          "MPI_Alltoallv");
#endif
    return out;
}

void barrier() {
#if SKIPPER_HAS_MPI
    if (distributed()) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

void abort(int exit_code) {
    std::cout.flush();
    std::cerr.flush();
#if SKIPPER_HAS_MPI
    // MPI_Abort makes mpirun kill every rank and exit with this code.
    if (distributed()) MPI_Abort(MPI_COMM_WORLD, exit_code);
#endif
    std::exit(exit_code);
}

void allreduce_sum(Context& ctx, Tensor& tensor) {
    if (tensor.device() == Device::cuda) {
        count(tensor.nbytes());
        // Under mpirun NCCL runs even for one rank, so that a one-GPU machine tests the path.
        if (mpi_running()) nccl_allreduce_sum(ctx, tensor);
        return;
    }
    switch (tensor.dtype()) {
        case DType::f32: return allreduce_sum(std::span(tensor.data<float>(), static_cast<size_t>(tensor.numel())));
        case DType::f64: return allreduce_sum(std::span(tensor.data<double>(), static_cast<size_t>(tensor.numel())));
        default: throw Error("collective::allreduce_sum: cannot sum a " + tensor.describe());
    }
}

Traffic traffic() { return g_traffic; }

}  // namespace skipper::collective
