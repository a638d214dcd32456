// A vectorisable exp for the CPU kernels' f32 loops (the LSTM's gates, the
// GBDT's log-loss gradients).
#pragma once

#include <bit>
#include <cstdint>

namespace skipper::cpu {

// exp for f32 that GCC vectorises (std::exp does not without -ffast-math):
// Cephes's expf, a range reduction to [-ln2/2, ln2/2] and a degree-6
// polynomial, within 1e-7 relative of the true value on the clamped range.
inline float exp_f32(float x) {
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.7f ? 88.7f : x;
    // Adding 1.5 * 2^23 rounds x log2(e) to the nearest integer n and leaves n
    // in the low mantissa bits, with no float-to-int conversion.
    constexpr float kShift = 12582912.0f;
    const float shifted = x * 1.44269504088896341f + kShift;
    const float n = shifted - kShift;
    const int32_t n_bits = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kShift);
    x = x - n * 0.693359375f;
    x = x - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * x + 1.3981999507e-3f;
    p = p * x + 8.3334519073e-3f;
    p = p * x + 4.1665795894e-2f;
    p = p * x + 1.6666665459e-1f;
    p = p * x + 5.0000001201e-1f;
    const float y = p * x * x + x + 1.0f;
    return y * std::bit_cast<float>((n_bits + 127) << 23);
}

}  // namespace skipper::cpu
