#include "engine/concurrent.h"

#include <omp.h>

#include <exception>
#include <vector>

namespace skipper {

void run_concurrently(std::span<Context* const> contexts, const std::function<void(size_t)>& task) {
    const auto count = static_cast<int>(contexts.size());
    bool on_cpu = count > 1;
    for (const Context* ctx : contexts) on_cpu = on_cpu && ctx->device() == Device::cpu;
    if (!on_cpu || omp_in_parallel() || omp_get_max_threads() < count) {
        for (size_t i = 0; i < contexts.size(); ++i) task(i);
        return;
    }
    std::vector<std::exception_ptr> errors(contexts.size());
#pragma omp parallel for num_threads(count) schedule(static, 1)
    for (int i = 0; i < count; ++i) {
        try {
            task(static_cast<size_t>(i));
        } catch (...) {
            errors[static_cast<size_t>(i)] = std::current_exception();
        }
    }
    for (const auto& error : errors)
        if (error) std::rethrow_exception(error);
}

}  // namespace skipper
