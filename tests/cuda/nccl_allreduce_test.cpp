// The NCCL path of collective::allreduce_sum on a CUDA tensor, under mpirun
// (one rank: this program tests it on any machine with one GPU). Skipped
// without NCCL in the build or without a GPU.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "engine/collective.h"

namespace skipper {
namespace {

constexpr const char* kChildVariable = "SKIPPER_NCCL_TEST_CHILD";

TEST(Nccl, AllreduceOfACudaTensorUnderMpirun) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "the rank itself runs NcclRank";
    if (!collective::built_with_nccl()) GTEST_SKIP() << "built without NCCL (needs CUDA and MPI)";
    if (!cuda_available()) GTEST_SKIP() << "no GPU";
    const std::string command = std::string(kChildVariable) + "=1 timeout 120 " + SKIPPER_MPIEXEC +
                                " --allow-run-as-root -np 1 /proc/" + std::to_string(getpid()) +
                                "/exe --gtest_filter='NcclRank.*' 2>&1";
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << command;
}

TEST(NcclRank, SumsOnTheDevice) {
    if (std::getenv(kChildVariable) == nullptr) GTEST_SKIP() << "runs under mpirun only";
    static int argc = 1;
    static char name[] = "nccl_allreduce_test";
    static char* args[] = {name, nullptr};
    static char** argv = args;
    static const collective::Session session(argc, argv);
    const int ranks = collective::size();
    const float r = static_cast<float>(collective::rank());
    Context ctx(Device::cuda);
    std::vector<float> values(1000);
    for (size_t i = 0; i < values.size(); ++i) values[i] = r + static_cast<float>(i);
    Tensor t = Tensor::from_vector<float>(values, {1000}).to(Device::cuda);
    collective::allreduce_sum(ctx, t);
    ctx.synchronize();
    const auto sum = t.to(Device::cpu).to_vector<float>();
    const float rank_sum = static_cast<float>(ranks * (ranks - 1) / 2);
    for (size_t i = 0; i < sum.size(); ++i)
        ASSERT_EQ(sum[i], rank_sum + static_cast<float>(ranks) * static_cast<float>(i)) << i;
}

}  // namespace
}  // namespace skipper
