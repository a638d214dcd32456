// The skipper command-line program; everything it does lives in tools/cli.cpp.
#include <iostream>

#include "tools/cli.h"

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return skipper::tools::run_cli(args, std::cout, std::cerr);
}
