// The LSTM model loader on arbitrary bytes, sealed with a valid size and
// checksum. A FormatError is the only acceptable failure; a model that loads
// holds exactly the weights its architecture names.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "tests/fuzz/fuzz_input.h"
#include "trainer/lstm/lstm.h"
#include "trainer/lstm/network.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace skipper;
    const std::vector<uint8_t> bytes = fuzz::sealed_model(data, size);
    try {
        const LstmModel model = LstmModel::from_bytes(bytes, "fuzz.skm");
        if (model.weights().size() != lstm::parameter_specs(model.architecture()).size()) __builtin_trap();
    } catch (const FormatError&) {
    }
    return 0;
}
