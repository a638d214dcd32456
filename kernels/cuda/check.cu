#include "kernels/cuda/check.h"

namespace skipper::cuda_detail {

void throw_cuda_error(const char* what, const char* call, const char* file, int line) {
    throw CudaError(std::string("CUDA error: ") + what + " in " + call + " at " + file + ":" +
                    std::to_string(line));
}

}  // namespace skipper::cuda_detail
