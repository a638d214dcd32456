#include "engine/batch_upload.h"

#include <cstring>

#include "engine/error.h"

namespace skipper {

namespace {
// Each tensor starts on a 256-byte boundary in the staging buffers: the
// alignment cudaMalloc gives, so the device copies run at full width.
size_t aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }
}  // namespace

BatchUploader::BatchUploader(Context& ctx) : ctx_(ctx) {
    if (ctx.device() == Device::cuda) copy_stream_ = std::make_unique<CudaStream>();
}

// The slots' last copies must finish before their memory goes back.
BatchUploader::~BatchUploader() {
    for (Slot& slot : slots_)
        if (slot.used) slot.consumed->synchronize();
}

void BatchUploader::upload(std::span<const Tensor> sources, std::span<Tensor> targets) {
    if (sources.size() != targets.size())
        throw Error("BatchUploader::upload: " + std::to_string(sources.size()) + " sources for " +
                    std::to_string(targets.size()) + " targets");
    size_t total = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
        if (sources[i].device() != Device::cpu || sources[i].shape() != targets[i].shape() ||
            sources[i].dtype() != targets[i].dtype() || targets[i].device() != ctx_.device())
            throw Error("BatchUploader::upload: cannot copy " + sources[i].describe() + " into " +
                        targets[i].describe() + " for a " + device_name(ctx_.device()) + " context");
        total += aligned(sources[i].nbytes());
    }
    ++uploads_;
    if (ctx_.device() == Device::cpu) {
        for (size_t i = 0; i < sources.size(); ++i) targets[i].copy_from(sources[i]);
        return;
    }
    Slot& slot = slots_[static_cast<size_t>(uploads_ % 2)];
    // The device must be done with this slot's previous batch (two uploads ago).
    if (slot.used) slot.consumed->synchronize();
    if (!slot.host || slot.host->bytes() < total) {
        slot.host = std::make_unique<PinnedBuffer>(total);
        slot.device = Tensor::empty({static_cast<int64_t>(total)}, DType::u8, ctx_);
        slot.copied = std::make_unique<CudaEvent>(false);
        slot.consumed = std::make_unique<CudaEvent>(false);
    }
    auto* host = static_cast<uint8_t*>(slot.host->data());
    size_t offset = 0;
    for (const Tensor& source : sources) {
        std::memcpy(host + offset, source.raw(), source.nbytes());
        offset += aligned(source.nbytes());
    }
    auto* staging = static_cast<uint8_t*>(slot.device.raw());
    // The staging buffer belongs to the compute stream's order: the copy
    // stream overwrites it only after the compute stream consumed it last time.
    if (slot.used) slot.consumed->wait_on(copy_stream_->get());
    cuda_memcpy_to_device_async(staging, host, offset, copy_stream_->get());
    slot.copied->record(copy_stream_->get());
    slot.copied->wait_on(ctx_.cuda_stream());
    offset = 0;
    for (Tensor& target : targets) {
        cuda_memcpy_device_to_device_async(target.raw(), staging + offset, target.nbytes(), ctx_.cuda_stream());
        offset += aligned(target.nbytes());
    }
    slot.consumed->record(ctx_.cuda_stream());
    slot.used = true;
}

}  // namespace skipper
