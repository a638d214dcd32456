#include "engine/collective_nccl.h"

#include <memory>
#include <string>

#include "engine/error.h"

#if SKIPPER_HAS_NCCL
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#endif

namespace skipper::collective {

#if SKIPPER_HAS_NCCL

namespace {

void check_nccl(ncclResult_t result, const char* call) {
    if (result != ncclSuccess) throw Error(std::string(call) + " failed: " + ncclGetErrorString(result));
}

// The job's communicator over MPI_COMM_WORLD, one per process.
class NcclCommunicator {
public:
    NcclCommunicator() {
        int rank = 0, ranks = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
        ncclUniqueId id{};
        if (rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
        if (MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            throw Error("MPI_Bcast of the NCCL unique id failed");
        check_nccl(ncclCommInitRank(&comm_, ranks, id, rank), "ncclCommInitRank");
    }
    // Destructors must not throw; a failure here means the job is ending anyway.
    ~NcclCommunicator() { ncclCommDestroy(comm_); }
    NcclCommunicator(const NcclCommunicator&) = delete;
    NcclCommunicator& operator=(const NcclCommunicator&) = delete;
    ncclComm_t get() const { return comm_; }

private:
    ncclComm_t comm_ = nullptr;
};

std::unique_ptr<NcclCommunicator> g_communicator;

}  // namespace

void nccl_allreduce_sum(Context& ctx, Tensor& tensor) {
    if (!g_communicator) g_communicator = std::make_unique<NcclCommunicator>();
    ncclDataType_t type = ncclFloat32;
    if (tensor.dtype() == DType::f64)
        type = ncclFloat64;
    else if (tensor.dtype() != DType::f32)
        throw Error("collective::allreduce_sum: NCCL sums f32 or f64, got " + tensor.describe());
    check_nccl(ncclAllReduce(tensor.raw(), tensor.raw(), static_cast<size_t>(tensor.numel()), type, ncclSum,
                             g_communicator->get(), ctx.cuda_stream()),
               "ncclAllReduce");
}

void release_nccl() { g_communicator.reset(); }

void select_local_gpu() {
    int devices = 0;
    // No driver or no GPU: the CPU path, which needs no choice.
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        cudaGetLastError();
        return;
    }
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        throw Error("MPI_Comm_split_type failed: cannot tell the ranks on this machine apart");
    int local_rank = 0;
    MPI_Comm_rank(node, &local_rank);
    MPI_Comm_free(&node);
    if (cudaSetDevice(local_rank % devices) != cudaSuccess)
        throw Error("cudaSetDevice(" + std::to_string(local_rank % devices) + ") failed");
}

#else

void nccl_allreduce_sum(Context&, Tensor& tensor) {
    throw Error("collective::allreduce_sum: " + tensor.describe() +
                " is on CUDA with several ranks, but this build has no NCCL (it needs CUDA, MPI and NCCL)");
}

void release_nccl() {}
void select_local_gpu() {}

#endif

}  // namespace skipper::collective
