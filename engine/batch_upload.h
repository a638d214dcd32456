// Uploads a training loop's batches to the device without stalling either side:
// double-buffered through pinned host memory and a device staging buffer.
//
// upload(k): the host copies batch k into pinned slot k % 2 (waiting only if
// the device has not yet consumed batch k - 2 from that slot), a copy stream
// moves it to the slot's device staging buffer while the compute stream may
// still run step k - 1, and the compute stream then waits for that copy and
// moves the bytes into the batch tensors (a device-to-device copy: a few us).
// So the host prepares batch k + 1 and the PCIe transfer runs while the GPU
// computes step k; only the short device copy sits on the compute stream.
// On the CPU, upload is a plain copy.
#pragma once

#include <array>
#include <memory>
#include <span>

#include "engine/context.h"
#include "engine/cuda_device.h"
#include "engine/tensor.h"

namespace skipper {

class BatchUploader {
public:
    // `ctx`: the compute context whose stream uses the batch tensors.
    explicit BatchUploader(Context& ctx);
    ~BatchUploader();
    BatchUploader(const BatchUploader&) = delete;
    BatchUploader& operator=(const BatchUploader&) = delete;

    // Copies sources[i] (host tensors) into targets[i] (on ctx's device; same
    // shapes and dtypes), ordered on ctx's stream before any work queued after
    // this call. The sources may be reused as soon as this returns.
    void upload(std::span<const Tensor> sources, std::span<Tensor> targets);

    // Uploads so far (the slot of the next is uploads() % 2).
    int64_t uploads() const { return uploads_; }

private:
    struct Slot {
        std::unique_ptr<PinnedBuffer> host;
        Tensor device;                      // u8 staging buffer
        std::unique_ptr<CudaEvent> copied;  // on the copy stream, after the host-to-device copy
        std::unique_ptr<CudaEvent> consumed;  // on the compute stream, after the device copies out
        bool used = false;
    };

    Context& ctx_;
    std::unique_ptr<CudaStream> copy_stream_;  // CUDA only
    std::array<Slot, 2> slots_;
    int64_t uploads_ = 0;
};

}  // namespace skipper
