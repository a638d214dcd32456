#include "kernels/cuda/lstm_persistent.h"

#include <cooperative_groups.h>

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "kernels/cuda/check.h"
#include "kernels/cuda/lstm_persistent_plan.h"

namespace skipper::cuda {

namespace {

namespace plan_ns = lstm_persistent;

// One cluster per tile of plan.rows batch rows; block rank r of the cluster
// owns hidden units [r*units, (r+1)*units). Shared memory: w_s [H][4][units],
// h_cur and h_next [rows][H], c_units [rows][units].
__global__ void lstm_persistent_forward_kernel(const float* w_hh, const float* bias, const float* mask, float* gates,
                                               float* h, float* c, int64_t steps, int64_t batch, int64_t hidden,
                                               int64_t units, int64_t rows, bool reverse) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    extern __shared__ float shared[];
    const int64_t rank = cluster.block_rank();
    const int64_t cluster_size = cluster.num_blocks();
    float* w_s = shared;
    float* h_cur = w_s + hidden * 4 * units;
    float* h_next = h_cur + rows * hidden;
    float* c_units = h_next + rows * hidden;

    const int64_t tile = blockIdx.x / cluster_size;
    const int64_t first_row = tile * rows;
    const int64_t tile_rows = batch - first_row < rows ? batch - first_row : rows;
    const int64_t init_slot = reverse ? steps : 0;

    for (int64_t idx = threadIdx.x; idx < hidden * 4 * units; idx += blockDim.x)
        w_s[idx] = plan_ns::weight_slice_element(w_hh, hidden, units, rank, idx);
    for (int64_t idx = threadIdx.x; idx < rows * hidden; idx += blockDim.x) {
        const int64_t row = idx / hidden, k = idx % hidden;
        h_cur[idx] = row < tile_rows ? h[(init_slot * batch + first_row + row) * hidden + k] : 0.0f;
    }
    for (int64_t idx = threadIdx.x; idx < rows * units; idx += blockDim.x) {
        const int64_t row = idx / units, j = rank * units + idx % units;
        c_units[idx] = row < tile_rows && j < hidden ? c[(init_slot * batch + first_row + row) * hidden + j] : 0.0f;
    }
    // Every block of the cluster must be running before any writes into its
    // shared memory.
    cluster.sync();

    plan_ns::StepArgs args{w_s, bias, mask, gates, h, c, batch, hidden, units, rank, first_row, 0, reverse, false};
    for (int64_t s = 0; s < steps; ++s) {
        args.t = plan_ns::time_of(s, steps, reverse);
        args.with_product = s > 0;
        const int64_t groups = (tile_rows + plan_ns::kRowsPerThread - 1) / plan_ns::kRowsPerThread;
        for (int64_t p = threadIdx.x; p < groups * units; p += blockDim.x) {
            const int64_t row0 = p / units * plan_ns::kRowsPerThread, unit = p % units;
            const int64_t j = rank * units + unit;
            if (j >= hidden) continue;
            const int64_t count =
                tile_rows - row0 < plan_ns::kRowsPerThread ? tile_rows - row0 : plan_ns::kRowsPerThread;
            float h_out[plan_ns::kRowsPerThread];
            plan_ns::thread_step(args, h_cur, c_units, row0, count, unit, h_out);
            // Push this unit's h_t into every block's next-step buffer.
            for (int64_t q = 0; q < cluster_size; ++q) {
                float* remote = cluster.map_shared_rank(h_next, static_cast<unsigned>(q));
                for (int64_t r = 0; r < count; ++r) remote[(row0 + r) * hidden + j] = h_out[r];
            }
        }
        // Publishes every block's pushes (release/acquire across the cluster)
        // and keeps a block from overwriting a buffer another still reads.
        cluster.sync();
        float* swap = h_cur;
        h_cur = h_next;
        h_next = swap;
    }
#else
    // Built for an architecture without clusters: never launched there
    // (lstm_persistent_supported is false).
    __trap();
#endif
}

// The device's multiprocessor count and compute capability, read once.
struct DeviceFacts {
    int sms = 0, major = 0;
};
const DeviceFacts& device_facts() {
    static const DeviceFacts facts = [] {
        int device = 0;
        DeviceFacts f;
        SKIPPER_CUDA_CHECK(cudaGetDevice(&device));
        SKIPPER_CUDA_CHECK(cudaDeviceGetAttribute(&f.sms, cudaDevAttrMultiProcessorCount, device));
        SKIPPER_CUDA_CHECK(cudaDeviceGetAttribute(&f.major, cudaDevAttrComputeCapabilityMajor, device));
        if (f.major >= 9)
            SKIPPER_CUDA_CHECK(cudaFuncSetAttribute(lstm_persistent_forward_kernel,
                                                    cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                    static_cast<int>(plan_ns::kSharedBudget)));
        return f;
    }();
    return facts;
}

cudaLaunchConfig_t launch_config(const plan_ns::Plan& plan, CUstream_st* stream, cudaLaunchAttribute* attribute) {
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(plan.clusters * plan.cluster));
    config.blockDim = dim3(plan_ns::kThreads);
    config.dynamicSmemBytes = static_cast<size_t>(plan.shared_bytes);
    config.stream = stream;
    attribute->id = cudaLaunchAttributeClusterDimension;
    attribute->val.clusterDim.x = static_cast<unsigned>(plan.cluster);
    attribute->val.clusterDim.y = 1;
    attribute->val.clusterDim.z = 1;
    config.attrs = attribute;
    config.numAttrs = 1;
    return config;
}

// The planned launch for the current device; plan.ok is false where it
// cannot run. The driver's answer for a plan is cached: launches (and graph
// captures) after the first query nothing.
plan_ns::Plan device_plan(int64_t batch, int64_t hidden) {
    const DeviceFacts& facts = device_facts();
    plan_ns::Plan plan = plan_ns::make_plan(batch, hidden, facts.sms);
    if (facts.major < 9 || !plan.ok) {
        plan.ok = false;
        return plan;
    }
    static std::mutex mutex;
    static std::map<std::pair<int64_t, int64_t>, bool> fits;  // (cluster, shared bytes) -> the driver's answer
    std::lock_guard<std::mutex> lock(mutex);
    const auto key = std::make_pair(plan.cluster, plan.shared_bytes);
    auto it = fits.find(key);
    if (it == fits.end()) {
        cudaLaunchAttribute attribute{};
        cudaLaunchConfig_t config = launch_config(plan, nullptr, &attribute);
        int clusters = 0;
        SKIPPER_CUDA_CHECK(cudaOccupancyMaxActiveClusters(&clusters, lstm_persistent_forward_kernel, &config));
        it = fits.emplace(key, clusters > 0).first;
    }
    plan.ok = it->second;
    return plan;
}

}  // namespace

bool lstm_persistent_supported(int64_t batch, int64_t hidden) { return device_plan(batch, hidden).ok; }

void lstm_recurrent_forward_persistent(const float* w_hh, const float* bias, const float* mask, float* gates,
                                       float* h, float* c, int64_t steps, int64_t batch, int64_t hidden,
                                       bool reverse, CUstream_st* stream) {
    if (steps == 0 || batch == 0) return;
    const plan_ns::Plan plan = device_plan(batch, hidden);
    if (!plan.ok)
        throw Error("lstm_recurrent_forward: persist_small_h is not available for H = " + std::to_string(hidden) +
                    " on this device (needs compute capability 9.0 and H <= " +
                    std::to_string(plan_ns::kMaxHidden) + ")");
    cudaLaunchAttribute attribute{};
    cudaLaunchConfig_t config = launch_config(plan, stream, &attribute);
    SKIPPER_CUDA_CHECK(cudaLaunchKernelEx(&config, lstm_persistent_forward_kernel, w_hh, bias, mask, gates, h, c,
                                          steps, batch, hidden, plan.units, plan.rows, reverse));
}

}  // namespace skipper::cuda
