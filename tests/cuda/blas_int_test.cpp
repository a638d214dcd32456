// The int64 -> int narrowing for cuBLAS (kernels/cuda/blas_int.h): values that
// fit pass through, a dimension past INT_MAX (or negative) is an error naming
// the op and the argument. Runs on every machine.
#include <gtest/gtest.h>

#include <climits>
#include <string>

#include "kernels/cuda/blas_int.h"

namespace skipper {
namespace {

TEST(BlasInt, PassesValuesThatFit) {
    EXPECT_EQ(cuda::blas_int("matmul", "m", 0), 0);
    EXPECT_EQ(cuda::blas_int("matmul", "m", 464), 464);
    EXPECT_EQ(cuda::blas_int("matmul", "m", INT_MAX), INT_MAX);
}

TEST(BlasInt, RefusesADimensionPastIntMaxNamingTheOpAndArgument) {
    for (int64_t bad : {int64_t{INT_MAX} + 1, int64_t{1} << 40, int64_t{-1}}) {
        try {
            cuda::blas_int("matmul_batched", "ldb", bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find("matmul_batched"), std::string::npos) << what;
            EXPECT_NE(what.find("ldb = " + std::to_string(bad)), std::string::npos) << what;
        }
    }
}

}  // namespace
}  // namespace skipper
