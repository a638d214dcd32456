// cuBLAS takes its sizes, leading dimensions and batch counts as int. Skipper's
// shapes are int64_t: every narrowing goes through blas_int, which refuses a
// value that does not fit instead of wrapping it into a wrong (or negative)
// size. Plain C++, so that tests/cuda/blas_int_test.cpp runs on every machine.
#pragma once

#include <climits>
#include <cstdint>
#include <string>

#include "engine/error.h"

namespace skipper::cuda {

// `value` as an int; `op` and `what` name the call and the argument in the error.
inline int blas_int(const char* op, const char* what, int64_t value) {
    if (value < 0 || value > INT_MAX)
        throw Error(std::string(op) + ": " + what + " = " + std::to_string(value) +
                    " is outside cuBLAS's int range [0, " + std::to_string(INT_MAX) + "]");
    return static_cast<int>(value);
}

}  // namespace skipper::cuda
