#include <cstdio>
#include <cstring>

#include "engine/context.h"
#include "kernels/cpu/matmul.h"

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "version") == 0) {
        std::printf("skipper %s (CUDA path %s; BLAS: %s)\n", SKIPPER_VERSION,
                    skipper::built_with_cuda() ? "built" : "not built", skipper::cpu::blas_config().c_str());
        return 0;
    }
    std::fprintf(stderr, "usage: skipper version\n");
    return 2;
}
