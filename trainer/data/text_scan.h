// Newlines counted (and found) 32 bytes at a time: the readers count lines to size their
// buffers and to report file lines, over every byte they read. std::count
// compiles to widening byte-to-64-bit adds here (several instructions a
// byte); a compare, a mask and a popcount per 32 bytes is about ten times less.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace skipper::data {

// The high bit of each byte of `word` that equals `c`, the others clear
// (exact: no carry crosses bytes). Eight bytes at a time without SIMD.
inline uint64_t bytes_equal_to(uint64_t word, char c) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL, kLow = 0x7F7F7F7F7F7F7F7FULL;
    const uint64_t x = word ^ (kOnes * static_cast<uint8_t>(c));
    return ~(((x & kLow) + kLow) | x | kLow);
}

// Eight bytes at a time, for CPUs without AVX2 (and the tails).
inline int64_t count_newlines_portable(const char* begin, const char* end) {
    int64_t count = 0;
    const char* p = begin;
    for (; end - p >= 8; p += 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        count += std::popcount(bytes_equal_to(word, '\n'));
    }
    for (; p < end; ++p) count += *p == '\n';
    return count;
}

inline int64_t count_newlines(const char* begin, const char* end) {
#ifdef __AVX2__
    int64_t count = 0;
    const __m256i newline = _mm256_set1_epi8('\n');
    for (; end - begin >= 32; begin += 32) {
        const __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(begin));
        count += std::popcount(static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(block, newline))));
    }
    return count + count_newlines_portable(begin, end);
#else
    return count_newlines_portable(begin, end);
#endif
}

// The newlines in [begin, end), or -1 when a quote is among the bytes (the
// caller then splits lines quote-aware): the windows learn both in one pass.
inline int64_t count_newlines_unquoted(const char* begin, const char* end) {
#ifdef __AVX2__
    int64_t count = 0;
    const __m256i newline = _mm256_set1_epi8('\n'), quote = _mm256_set1_epi8('"');
    for (; end - begin >= 32; begin += 32) {
        const __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(begin));
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(block, quote)) != 0) return -1;
        count += std::popcount(static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(block, newline))));
    }
    if (std::memchr(begin, '"', static_cast<size_t>(end - begin)) != nullptr) return -1;
    return count + count_newlines_portable(begin, end);
#else
    if (std::memchr(begin, '"', static_cast<size_t>(end - begin)) != nullptr) return -1;
    return count_newlines_portable(begin, end);
#endif
}

// The first '\n' or '"' in [p, end), or end: pass 1 steps from line to line
// with it, and a quote sends a line to the quote-aware path. Eight bytes at
// a time without AVX2 (and for the tails).
inline const char* find_newline_or_quote_portable(const char* p, const char* end) {
    for (; end - p >= 8; p += 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        const uint64_t hits = bytes_equal_to(word, '\n') | bytes_equal_to(word, '"');
        if (hits != 0) return p + std::countr_zero(hits) / 8;  // little-endian: the lowest byte comes first
    }
    while (p < end && *p != '\n' && *p != '"') ++p;
    return p;
}

inline const char* find_newline_or_quote(const char* p, const char* end) {
#ifdef __AVX2__
    const __m256i newline = _mm256_set1_epi8('\n'), quote = _mm256_set1_epi8('"');
    for (; end - p >= 32; p += 32) {
        const __m256i block = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        const auto hits = static_cast<uint32_t>(_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_cmpeq_epi8(block, newline), _mm256_cmpeq_epi8(block, quote))));
        if (hits != 0) return p + std::countr_zero(hits);
    }
#endif
    return find_newline_or_quote_portable(p, end);
}

}  // namespace skipper::data
