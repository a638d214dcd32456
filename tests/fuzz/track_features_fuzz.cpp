// The track-feature CSV reader on arbitrary bytes, in both on_bad_row modes: a
// DataError is the only acceptable failure.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/error.h"
#include "trainer/data/mssd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace skipper;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const data::OnBadRow mode : {data::OnBadRow::error, data::OnBadRow::skip}) {
        try {
            const data::TrackTable tracks = data::parse_track_features(text, "fuzz.csv", {mode, 1});
            const auto columns = static_cast<int64_t>(data::track_feature_columns().size());
            if (tracks.values.dim() != 2 || tracks.values.size(0) != tracks.rows() || tracks.values.size(1) != columns)
                __builtin_trap();
        } catch (const DataError&) {
        }
    }
    return 0;
}
