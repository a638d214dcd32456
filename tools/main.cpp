// The skipper command-line program; everything it does lives in tools/cli.cpp.
// Under mpirun it is one rank of a data-parallel job: rank 0 prints and
// writes; the others print only their error. A failure on any rank ends every
// rank (collective::abort), so none waits forever in a collective.
#include <exception>
#include <iostream>
#include <sstream>

#include "engine/collective.h"
#include "tools/cli.h"

int main(int argc, char** argv) {
    using namespace skipper;
    try {
        const collective::Session session(argc, argv);
        const std::vector<std::string> args(argv + 1, argv + argc);
        if (collective::is_root()) {
            const int code = tools::run_cli(args, std::cout, std::cerr);
            if (code != tools::kExitSuccess && collective::size() > 1) collective::abort(code);
            return code;
        }
        std::ostringstream out, err;
        const int code = tools::run_cli(args, out, err);
        if (code != tools::kExitSuccess) {
            // Its progress and warnings repeat rank 0's: print from its error on.
            const std::string text = err.str();
            const size_t error = text.rfind("\nskipper ");
            std::cerr << text.substr(error == std::string::npos ? 0 : error + 1);
            collective::abort(code);
        }
        return code;
    } catch (const std::exception& e) {
        std::cerr << "skipper: error: " << e.what() << '\n';
        collective::abort(tools::kExitFailure);
    }
}
