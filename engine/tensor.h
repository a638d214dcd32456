// Tensor: a typed, shaped view of device or host memory owned by a Storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

struct CUstream_st;

namespace skipper {

class Context;

enum class DType : uint8_t { f32 = 0, f64 = 1, i32 = 2, u8 = 3 };
enum class Device : uint8_t { cpu = 0, cuda = 1 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
const char* device_name(Device device);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }

using Shape = std::vector<int64_t>;
int64_t shape_numel(const Shape& shape);
std::string shape_string(const Shape& shape);

// A block of bytes from a device's caching allocator, returned to it on
// destruction; or host memory owned elsewhere (a mapped cache file, a numpy
// array), viewed without a copy and never freed here. `stream`: the CUDA
// stream its work is queued on, which orders the block's reuse
// (engine/allocator.h); nullptr for host memory and for device memory used
// from the host's order (copies that wait for the device).
class Storage {
public:
    Storage(Device device, size_t bytes, CUstream_st* stream = nullptr);
    // Host memory owned elsewhere; `owner` (may be null) keeps it alive.
    Storage(void* data, size_t bytes, std::shared_ptr<const void> owner);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() const { return data_; }
    size_t bytes() const { return bytes_; }
    Device device() const { return device_; }

private:
    Device device_;
    size_t bytes_;
    CUstream_st* stream_;
    void* data_;
    bool owned_;
    std::shared_ptr<const void> owner_;
};

class Tensor {
public:
    Tensor() = default;

    // Uninitialised memory from the device's caching allocator.
    static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu);
    // On CUDA, a memset on the legacy default stream that the host waits for,
    // so any stream may use the tensor next.
    static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu);
    // The same on ctx's device, for work queued on ctx's stream: the memory is
    // reused in that stream's order, and zeros is a memset queued on it (the
    // host does not wait).
    static Tensor empty(const Shape& shape, DType dtype, const Context& ctx);
    static Tensor zeros(const Shape& shape, DType dtype, const Context& ctx);
    // Host tensor holding a copy of `values`.
    template <class T> static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
    // A host tensor over C-contiguous memory it does not own (no copy). With
    // an `owner`, that memory lives as long as any tensor sharing this
    // storage; without one, the caller keeps it alive longer than them.
    static Tensor view_host(void* data, const Shape& shape, DType dtype, std::shared_ptr<const void> owner = nullptr);

    bool defined() const { return storage_ != nullptr; }
    DType dtype() const { return dtype_; }
    Device device() const { return device_; }
    const Shape& shape() const { return shape_; }
    int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
    int64_t size(int64_t axis) const;
    int64_t numel() const { return shape_numel(shape_); }
    size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

    void* raw() const;
    template <class T> T* data() const {
        check_dtype(dtype_of<T>());
        return static_cast<T*>(raw());
    }

    // Same storage, new shape with the same element count.
    Tensor reshape(const Shape& shape) const;
    // Rows [begin, end) along axis 0, sharing storage.
    Tensor slice_rows(int64_t begin, int64_t end) const;
    // A deep copy on `device` (host<->device copies go through here).
    Tensor to(Device device) const;
    Tensor clone() const { return to(device_); }
    // Copies `src` (same shape and dtype, any device) into this tensor.
    void copy_from(const Tensor& src);
    template <class T> std::vector<T> to_vector() const;

    std::string describe() const;

private:
    static Tensor allocate(const Shape& shape, DType dtype, Device device, CUstream_st* stream);
    void check_dtype(DType want) const;

    std::shared_ptr<Storage> storage_;
    size_t offset_bytes_ = 0;
    Shape shape_;
    DType dtype_ = DType::f32;
    Device device_ = Device::cpu;
};

}  // namespace skipper
