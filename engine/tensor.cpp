#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/allocator.h"
#include "engine/context.h"
#include "engine/cuda_device.h"
#include "engine/error.h"

namespace skipper {

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::f32: return 4;
        case DType::f64: return 8;
        case DType::i32: return 4;
        case DType::u8: return 1;
    }
    throw Error("unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::f32: return "f32";
        case DType::f64: return "f64";
        case DType::i32: return "i32";
        case DType::u8: return "u8";
    }
    return "unknown";
}

const char* device_name(Device device) { return device == Device::cpu ? "cpu" : "cuda"; }

int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shape_string(const Shape& shape) {
    std::ostringstream out;
    out << "[";
    for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << "]";
    return out.str();
}

Storage::Storage(Device device, size_t bytes, CUstream_st* stream)
    : device_(device), bytes_(bytes), stream_(stream), data_(allocator_for(device).allocate(bytes, stream)), owned_(true) {}

Storage::Storage(void* data, size_t bytes, std::shared_ptr<const void> owner)
    : device_(Device::cpu), bytes_(bytes), stream_(nullptr), data_(data), owned_(false), owner_(std::move(owner)) {}

Storage::~Storage() {
    if (owned_) allocator_for(device_).deallocate(data_, bytes_, stream_);
}

Tensor Tensor::view_host(void* data, const Shape& shape, DType dtype, std::shared_ptr<const void> owner) {
    for (int64_t d : shape)
        if (d < 0) throw Error("negative dimension in shape " + shape_string(shape));
    Tensor t;
    t.shape_ = shape;
    t.dtype_ = dtype;
    t.device_ = Device::cpu;
    t.storage_ = std::make_shared<Storage>(data, static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), std::move(owner));
    return t;
}

Tensor Tensor::allocate(const Shape& shape, DType dtype, Device device, CUstream_st* stream) {
    for (int64_t d : shape)
        if (d < 0) throw Error("negative dimension in shape " + shape_string(shape));
    Tensor t;
    t.shape_ = shape;
    t.dtype_ = dtype;
    t.device_ = device;
    t.storage_ =
        std::make_shared<Storage>(device, static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), stream);
    return t;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
    return allocate(shape, dtype, device, nullptr);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, const Context& ctx) {
    return allocate(shape, dtype, ctx.device(), ctx.cuda_stream());
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
    Tensor t = empty(shape, dtype, device);
    if (device == Device::cpu) {
        std::memset(t.raw(), 0, t.nbytes());
    } else if (t.nbytes() > 0) {
        // The legacy default stream does not order the non-blocking streams
        // the contexts use: wait for it, so that whichever stream uses t next
        // sees zeros.
        cuda_memset_zero_async(t.raw(), t.nbytes(), nullptr);
        cuda_default_stream_synchronize();
    }
    return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, const Context& ctx) {
    Tensor t = empty(shape, dtype, ctx);
    if (ctx.device() == Device::cpu) std::memset(t.raw(), 0, t.nbytes());
    else if (t.nbytes() > 0) cuda_memset_zero_async(t.raw(), t.nbytes(), ctx.cuda_stream());
    return t;
}

template <class T> Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
    if (shape_numel(shape) != static_cast<int64_t>(values.size()))
        throw Error("from_vector: " + std::to_string(values.size()) + " values for shape " + shape_string(shape));
    Tensor t = empty(shape, dtype_of<T>(), Device::cpu);
    if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
    return t;
}

int64_t Tensor::size(int64_t axis) const {
    if (axis < 0) axis += dim();
    if (axis < 0 || axis >= dim()) throw Error("axis " + std::to_string(axis) + " out of range for " + describe());
    return shape_[static_cast<size_t>(axis)];
}

void* Tensor::raw() const {
    if (!storage_) return nullptr;
    return static_cast<uint8_t*>(storage_->data()) + offset_bytes_;
}

void Tensor::check_dtype(DType want) const {
    if (want != dtype_)
        throw Error(std::string("tensor holds ") + dtype_name(dtype_) + ", accessed as " + dtype_name(want));
}

Tensor Tensor::reshape(const Shape& shape) const {
    if (shape_numel(shape) != numel())
        throw Error("cannot reshape " + describe() + " to " + shape_string(shape));
    Tensor t = *this;
    t.shape_ = shape;
    return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
    if (dim() == 0 || begin < 0 || end < begin || end > shape_[0])
        throw Error("slice_rows(" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " +
                    describe());
    Tensor t = *this;
    const int64_t row = shape_[0] == 0 ? 0 : numel() / shape_[0];
    t.offset_bytes_ += static_cast<size_t>(begin * row) * dtype_size(dtype_);
    t.shape_[0] = end - begin;
    return t;
}

namespace {
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
    if (bytes == 0) return;
    if (dst_device == Device::cpu && src_device == Device::cpu) std::memcpy(dst, src, bytes);
    else if (dst_device == Device::cuda && src_device == Device::cpu) cuda_memcpy_to_device(dst, src, bytes);
    else if (dst_device == Device::cpu && src_device == Device::cuda) cuda_memcpy_to_host(dst, src, bytes);
    else cuda_memcpy_device_to_device(dst, src, bytes);
}
}  // namespace

Tensor Tensor::to(Device device) const {
    Tensor t = empty(shape_, dtype_, device);
    copy_bytes(t.raw(), device, raw(), device_, nbytes());
    return t;
}

void Tensor::copy_from(const Tensor& src) {
    if (src.shape_ != shape_ || src.dtype_ != dtype_)
        throw Error("copy_from: " + src.describe() + " into " + describe());
    copy_bytes(raw(), device_, src.raw(), src.device_, nbytes());
}

template <class T> std::vector<T> Tensor::to_vector() const {
    check_dtype(dtype_of<T>());
    std::vector<T> values(static_cast<size_t>(numel()));
    copy_bytes(values.data(), Device::cpu, raw(), device_, nbytes());
    return values;
}

std::string Tensor::describe() const {
    return std::string(dtype_name(dtype_)) + shape_string(shape_) + "@" + device_name(device_);
}

template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector<int32_t>(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&);
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

}  // namespace skipper
