// The GBDT model loader on arbitrary bytes, sealed with a valid size and
// checksum. A FormatError is the only acceptable failure; a model that loads
// must predict any row (NaN, negative, past every category) without a fault.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "engine/error.h"
#include "tests/fuzz/fuzz_input.h"
#include "trainer/gbdt/gbdt.h"

// Keeps the predictions from being optimised away.
volatile double sink = 0.0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace skipper;
    const std::vector<uint8_t> bytes = fuzz::sealed_model(data, size);
    try {
        const GbdtModel model = GbdtModel::from_bytes(bytes, "fuzz.skm");
        const auto features = static_cast<size_t>(model.num_features());
        for (const float value : {0.0f, 1.0f, 31.0f, 32.0f, 1e30f, -1.0f, std::numeric_limits<float>::quiet_NaN()}) {
            const std::vector<float> row(features, value);
            // Every walk ends at a leaf of its tree: ASan checks each index on the way.
            sink = model.predict_raw_row(row);
        }
    } catch (const FormatError&) {
    }
    return 0;
}
