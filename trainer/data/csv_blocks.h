// The CSV parser's structural index: the bytes that end or complicate a field
// (',', '\n', '"', '\r') found 64 at a time with SIMD compares into one bit
// mask, as simdjson and simdcsv do, so that cutting a field is one bit scan
// instead of a search per field.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#if defined(__AVX512BW__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace skipper::data::csv {

// Bit i set when p[i] is one of ',', '\n', '"', '\r' (i < 64); for CPUs without AVX2.
inline uint64_t structural_mask_portable(const char* p) {
    uint64_t bits = 0;
    for (int i = 0; i < 64; ++i) {
        const char c = p[i];
        bits |= uint64_t{c == ',' || c == '\n' || c == '"' || c == '\r'} << i;
    }
    return bits;
}

inline uint64_t structural_mask(const char* p) {
#if defined(__AVX512BW__)
    const __m512i block = _mm512_loadu_si512(p);
    return _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8(',')) | _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\n')) |
           _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('"')) | _mm512_cmpeq_epi8_mask(block, _mm512_set1_epi8('\r'));
#elif defined(__AVX2__)
    const auto half = [](const char* q) {
        const __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
        const __m256i hits = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(block, _mm256_set1_epi8(',')), _mm256_cmpeq_epi8(block, _mm256_set1_epi8('\n'))),
            _mm256_or_si256(_mm256_cmpeq_epi8(block, _mm256_set1_epi8('"')), _mm256_cmpeq_epi8(block, _mm256_set1_epi8('\r'))));
        return uint64_t{static_cast<uint32_t>(_mm256_movemask_epi8(hits))};
    };
    return half(p) | half(p + 32) << 32;
#else
    return structural_mask_portable(p);
#endif
}

// The structural bytes of [begin, end) in order, one 64-byte block's mask at
// a time. Blocks start where seek() puts them, so they need no alignment; the
// last partial block is copied out so that nothing past `end` is read.
class Structurals {
public:
    explicit Structurals(const char* end) : end_(end) {}

    void seek(const char* p) {
        block_ = p;
        bits_ = mask_at(p);
    }

    // The next structural byte after the last one returned (from the seek on), or end when none is left.
    const char* next() {
        while (bits_ == 0) {
            if (end_ - block_ <= 64) return end_;
            block_ += 64;
            bits_ = mask_at(block_);
        }
        const char* p = block_ + std::countr_zero(bits_);
        bits_ &= bits_ - 1;
        return p;
    }

private:
    uint64_t mask_at(const char* p) const {
        if (end_ - p >= 64) return structural_mask(p);
        char tail[64] = {};
        if (end_ > p) std::memcpy(tail, p, static_cast<size_t>(end_ - p));
        return structural_mask(tail);
    }

    const char* end_;
    const char* block_ = nullptr;
    uint64_t bits_ = 0;
};

}  // namespace skipper::data::csv
