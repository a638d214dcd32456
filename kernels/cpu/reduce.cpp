#include "kernels/cpu/reduce.h"

#include <cstddef>
#include <vector>

namespace skipper::cpu {

template <class T> double sum(const T* x, int64_t n) {
    const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
    std::vector<double> partial(static_cast<std::size_t>(blocks), 0.0);
#pragma omp parallel for schedule(static) if (blocks > 1)
    for (int64_t b = 0; b < blocks; ++b) {
        const int64_t end = b * kSumBlock + kSumBlock < n ? b * kSumBlock + kSumBlock : n;
        double acc = 0.0;
        for (int64_t i = b * kSumBlock; i < end; ++i) acc += static_cast<double>(x[i]);
        partial[static_cast<std::size_t>(b)] = acc;
    }
    double total = 0.0;
    for (double p : partial) total += p;
    return total;
}

template <class T> void sum_rows(const T* x, int64_t rows, int64_t cols, T* out) {
    // Threads own column chunks and walk the rows in order, so each output is
    // summed in the same order for any thread count, with contiguous reads.
    constexpr int64_t kChunk = 64;
    const int64_t chunks = (cols + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 15))
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t begin = c * kChunk;
        const int64_t width = begin + kChunk < cols ? kChunk : cols - begin;
        double acc[kChunk] = {};
        for (int64_t i = 0; i < rows; ++i) {
            const T* row = x + i * cols + begin;
            for (int64_t j = 0; j < width; ++j) acc[j] += static_cast<double>(row[j]);
        }
        for (int64_t j = 0; j < width; ++j) out[begin + j] = static_cast<T>(acc[j]);
    }
}

template double sum<float>(const float*, int64_t);
template double sum<double>(const double*, int64_t);
template double sum<int32_t>(const int32_t*, int64_t);
template double sum<uint8_t>(const uint8_t*, int64_t);
template void sum_rows<float>(const float*, int64_t, int64_t, float*);
template void sum_rows<double>(const double*, int64_t, int64_t, double*);

}  // namespace skipper::cpu
