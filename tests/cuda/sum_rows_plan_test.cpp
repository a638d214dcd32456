// The summation order of the CUDA column reduction (kernels/cuda/sum_rows_plan.h),
// run on the CPU grid cell by grid cell as the two kernels run it: every row is
// counted exactly once (integer-valued inputs make the sums exact, so a missed
// or doubled row changes the result), the result matches a plain double loop,
// and the chunking keeps the grid within its limits. Runs on every machine.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/sum_rows_plan.h"

namespace skipper {
namespace {

namespace plan = sum_rows_plan;

// What the two kernels compute, in their order.
template <class T> std::vector<double> emulate_kernels(const std::vector<T>& x, int64_t rows, int64_t cols) {
    const int64_t chunks = plan::num_chunks(rows);
    std::vector<double> partial(static_cast<size_t>(chunks * cols));
    const int64_t column_blocks = (cols + plan::kColumnsPerBlock - 1) / plan::kColumnsPerBlock;
    for (int64_t chunk = 0; chunk < chunks; ++chunk)
        for (int64_t block = 0; block < column_blocks; ++block)
            for (int tx = 0; tx < plan::kColumnsPerBlock; ++tx) {
                const int64_t j = block * plan::kColumnsPerBlock + tx;
                if (j >= cols) continue;
                double lane_sums[plan::kLanes];
                for (int lane = 0; lane < plan::kLanes; ++lane)
                    lane_sums[lane] = plan::lane_sum(x.data(), rows, cols, chunk, lane, j);
                partial[static_cast<size_t>(chunk * cols + j)] = plan::combine_lanes(lane_sums);
            }
    std::vector<double> out(static_cast<size_t>(cols));
    for (int64_t j = 0; j < cols; ++j) out[static_cast<size_t>(j)] = plan::combine_chunks(partial.data(), chunks, cols, j);
    return out;
}

std::vector<double> reference(const std::vector<double>& x, int64_t rows, int64_t cols) {
    std::vector<double> out(static_cast<size_t>(cols), 0.0);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) out[static_cast<size_t>(j)] += x[static_cast<size_t>(i * cols + j)];
    return out;
}

struct Case {
    int64_t rows, cols;
};
// Around the lane count, the chunk size and the column block, and the LSTM's
// bias gradient (T*B rows of 4H columns).
const Case kCases[] = {{1, 1},    {7, 3},     {8, 32},    {9, 33},     {255, 31},   {256, 64},
                       {257, 65}, {2051, 5}, {1000, 464}, {20000, 17}, {0, 4},      {3, 0}};

TEST(SumRowsPlan, CountsEveryRowOnceExactly) {
    std::mt19937_64 rng(7);
    for (const auto& c : kCases) {
        std::vector<double> x(static_cast<size_t>(c.rows * c.cols));
        for (auto& v : x) v = static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000);
        EXPECT_EQ(emulate_kernels(x, c.rows, c.cols), reference(x, c.rows, c.cols)) << c.rows << " x " << c.cols;
    }
}

TEST(SumRowsPlan, MatchesADoubleLoopOnFloats) {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    for (const auto& c : kCases) {
        std::vector<float> x(static_cast<size_t>(c.rows * c.cols));
        for (auto& v : x) v = value(rng);
        const auto got = emulate_kernels(x, c.rows, c.cols);
        const auto want = reference(std::vector<double>(x.begin(), x.end()), c.rows, c.cols);
        for (size_t j = 0; j < want.size(); ++j)
            EXPECT_NEAR(got[j], want[j], 1e-12 * (1.0 + static_cast<double>(c.rows))) << c.rows << " x " << c.cols;
    }
}

TEST(SumRowsPlan, ChunksStayWithinTheGridAndCoverTheRows) {
    for (int64_t rows : {int64_t{1}, int64_t{256}, int64_t{257}, plan::kMaxChunks * plan::kMinChunkRows,
                         plan::kMaxChunks * plan::kMinChunkRows + 1, int64_t{1} << 31, int64_t{1} << 40}) {
        const int64_t chunks = plan::num_chunks(rows), per = plan::chunk_rows(rows);
        EXPECT_LE(chunks, plan::kMaxChunks) << rows;
        EXPECT_GE(chunks * per, rows) << rows;
        EXPECT_LT((chunks - 1) * per, rows) << rows;  // no empty chunk
    }
    EXPECT_EQ(plan::num_chunks(0), 0);
}

}  // namespace
}  // namespace skipper
