// Counter-based random numbers: value i depends only on (seed, i), so the CPU
// and CUDA versions produce identical tensors.
#pragma once

#include <cstdint>

namespace skipper {

// The splitmix64 finaliser: every output bit depends on every input bit.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline uint64_t splitmix64_finalise(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// splitmix64 finaliser of seed and counter; usable on host and device.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline uint64_t counter_hash(uint64_t seed, uint64_t index) {
    return splitmix64_finalise(seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull);
}

// Uniform in [0, 1) with 53 random bits; exact in double on every device.
#if defined(__CUDACC__)
__host__ __device__
#endif
inline double counter_uniform(uint64_t seed, uint64_t index) {
    return static_cast<double>(counter_hash(seed, index) >> 11) * 0x1.0p-53;
}

namespace cpu {
template <class T> void fill_uniform(T* x, int64_t n, double lo, double hi, uint64_t seed);
}  // namespace cpu

}  // namespace skipper
