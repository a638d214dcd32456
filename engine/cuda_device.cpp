#include "engine/cuda_device.h"

#include "engine/error.h"

#if SKIPPER_HAS_CUDA
#include "kernels/cuda/check.h"
#endif

namespace skipper {

#if SKIPPER_HAS_CUDA

void* cuda_malloc(size_t bytes) {
    void* ptr = nullptr;
    SKIPPER_CUDA_CHECK(cudaMalloc(&ptr, bytes));
    return ptr;
}
void cuda_free(void* ptr) { SKIPPER_CUDA_CHECK(cudaFree(ptr)); }
// Copies first wait for the whole device: kernels run on non-blocking streams,
// which a plain cudaMemcpy would not wait for. Copies stay out of step loops.
void cuda_memcpy_to_device(void* dst, const void* src, size_t bytes) {
    SKIPPER_CUDA_CHECK(cudaDeviceSynchronize());
    SKIPPER_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void cuda_memcpy_to_host(void* dst, const void* src, size_t bytes) {
    SKIPPER_CUDA_CHECK(cudaDeviceSynchronize());
    SKIPPER_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
void cuda_memcpy_device_to_device(void* dst, const void* src, size_t bytes) {
    SKIPPER_CUDA_CHECK(cudaDeviceSynchronize());
    SKIPPER_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
void cuda_memcpy_to_device_async(void* dst, const void* src, size_t bytes, CUstream_st* stream) {
    SKIPPER_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
}
void cuda_memcpy_device_to_device_async(void* dst, const void* src, size_t bytes, CUstream_st* stream) {
    SKIPPER_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
}
void cuda_memset_zero_async(void* dst, size_t bytes, CUstream_st* stream) {
    SKIPPER_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream));
}
void cuda_default_stream_synchronize() { SKIPPER_CUDA_CHECK(cudaStreamSynchronize(nullptr)); }
void cuda_device_synchronize() { SKIPPER_CUDA_CHECK(cudaDeviceSynchronize()); }
std::string cuda_device_name() {
    int device = 0;
    SKIPPER_CUDA_CHECK(cudaGetDevice(&device));
    cudaDeviceProp props{};
    SKIPPER_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
    return props.name;
}

std::string cuda_versions() {
    auto text = [](int version) { return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10); };
    int runtime = 0, driver = 0;
    SKIPPER_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    std::string out = "runtime " + text(runtime);
    if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) out += ", driver " + text(driver);
    return out;
}

CudaStream::CudaStream() { SKIPPER_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
// Destructors must not throw; a failure there means the context is already lost.
CudaStream::~CudaStream() { cudaStreamDestroy(stream_); }
void CudaStream::synchronize() const { SKIPPER_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

CudaEvent::CudaEvent(bool timing) {
    SKIPPER_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}
CudaEvent::~CudaEvent() { cudaEventDestroy(event_); }
void CudaEvent::record(CUstream_st* stream) { SKIPPER_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void CudaEvent::wait_on(CUstream_st* stream) const { SKIPPER_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }
float CudaEvent::elapsed_ms_since(const CudaEvent& start) const {
    float ms = 0.0f;
    SKIPPER_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
    return ms;
}
void CudaEvent::synchronize() const { SKIPPER_CUDA_CHECK(cudaEventSynchronize(event_)); }
bool CudaEvent::query() const {
    const cudaError_t status = cudaEventQuery(event_);
    if (status == cudaErrorNotReady) {
        cudaGetLastError();  // not an error: leave no sticky status behind
        return false;
    }
    SKIPPER_CUDA_CHECK(status);
    return true;
}

PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) { SKIPPER_CUDA_CHECK(cudaMallocHost(&data_, bytes)); }
PinnedBuffer::~PinnedBuffer() { cudaFreeHost(data_); }

void CudaGraph::begin_capture(CUstream_st* stream) {
    SKIPPER_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
}
CudaGraph CudaGraph::end_capture(CUstream_st* stream) {
    cudaGraph_t graph = nullptr;
    SKIPPER_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    return CudaGraph(graph);
}
// After a failure inside the capture: end it and drop whatever was recorded,
// so that the stream is usable again; the original error is what propagates.
void CudaGraph::abandon_capture(CUstream_st* stream) noexcept {
    cudaGraph_t graph = nullptr;
    cudaStreamEndCapture(stream, &graph);
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
}
CudaGraph& CudaGraph::operator=(CudaGraph&& other) noexcept {
    if (this != &other) {
        if (graph_ != nullptr) cudaGraphDestroy(graph_);
        graph_ = other.graph_;
        other.graph_ = nullptr;
    }
    return *this;
}
CudaGraph::~CudaGraph() {
    if (graph_ != nullptr) cudaGraphDestroy(graph_);
}
size_t CudaGraph::num_nodes() const {
    size_t count = 0;
    SKIPPER_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &count));
    return count;
}

CudaGraphExec::CudaGraphExec(const CudaGraph& graph) {
    SKIPPER_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph.get(), 0));
}
CudaGraphExec::~CudaGraphExec() { cudaGraphExecDestroy(exec_); }
void CudaGraphExec::launch(CUstream_st* stream) const { SKIPPER_CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }

// 32 MiB: the workspace size cuBLAS's documentation recommends for Hopper.
constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;

CublasHandle::CublasHandle(CUstream_st* stream) {
    SKIPPER_CUBLAS_CHECK(cublasCreate(&handle_));
    try {
        SKIPPER_CUDA_CHECK(cudaMalloc(&workspace_, kCublasWorkspaceBytes));
        SKIPPER_CUBLAS_CHECK(cublasSetStream(handle_, stream));
        SKIPPER_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_, kCublasWorkspaceBytes));
    } catch (...) {
        cublasDestroy(handle_);
        cudaFree(workspace_);
        throw;
    }
}
CublasHandle::~CublasHandle() {
    cublasDestroy(handle_);
    cudaFree(workspace_);
}

#else

namespace {
[[noreturn]] void no_cuda() { throw CudaError("this Skipper binary was built without CUDA"); }
}  // namespace

void* cuda_malloc(size_t) { no_cuda(); }
void cuda_free(void*) { no_cuda(); }
void cuda_memcpy_to_device(void*, const void*, size_t) { no_cuda(); }
void cuda_memcpy_to_host(void*, const void*, size_t) { no_cuda(); }
void cuda_memcpy_device_to_device(void*, const void*, size_t) { no_cuda(); }
void cuda_memcpy_to_device_async(void*, const void*, size_t, CUstream_st*) { no_cuda(); }
void cuda_memcpy_device_to_device_async(void*, const void*, size_t, CUstream_st*) { no_cuda(); }
void cuda_memset_zero_async(void*, size_t, CUstream_st*) { no_cuda(); }
void cuda_default_stream_synchronize() { no_cuda(); }
void cuda_device_synchronize() { no_cuda(); }
std::string cuda_device_name() { no_cuda(); }
std::string cuda_versions() { no_cuda(); }
CudaStream::CudaStream() { no_cuda(); }
CudaStream::~CudaStream() = default;
void CudaStream::synchronize() const { no_cuda(); }
CudaEvent::CudaEvent(bool) { no_cuda(); }
CudaEvent::~CudaEvent() = default;
void CudaEvent::record(CUstream_st*) { no_cuda(); }
void CudaEvent::wait_on(CUstream_st*) const { no_cuda(); }
float CudaEvent::elapsed_ms_since(const CudaEvent&) const { no_cuda(); }
void CudaEvent::synchronize() const { no_cuda(); }
bool CudaEvent::query() const { no_cuda(); }
PinnedBuffer::PinnedBuffer(size_t) { no_cuda(); }
PinnedBuffer::~PinnedBuffer() = default;
void CudaGraph::begin_capture(CUstream_st*) { no_cuda(); }
CudaGraph CudaGraph::end_capture(CUstream_st*) { no_cuda(); }
void CudaGraph::abandon_capture(CUstream_st*) noexcept {}
CudaGraph& CudaGraph::operator=(CudaGraph&& other) noexcept {
    graph_ = other.graph_;
    other.graph_ = nullptr;
    return *this;
}
CudaGraph::~CudaGraph() = default;
size_t CudaGraph::num_nodes() const { no_cuda(); }
CudaGraphExec::CudaGraphExec(const CudaGraph&) { no_cuda(); }
CudaGraphExec::~CudaGraphExec() = default;
void CudaGraphExec::launch(CUstream_st*) const { no_cuda(); }
CublasHandle::CublasHandle(CUstream_st*) { no_cuda(); }
CublasHandle::~CublasHandle() = default;

#endif

}  // namespace skipper
