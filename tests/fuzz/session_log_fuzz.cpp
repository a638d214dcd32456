// The session-log CSV reader on arbitrary bytes, in both on_bad_row modes: a
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
        data::ReadReport report;
        try {
            const data::SessionLog log = data::parse_session_log(text, "fuzz.csv", {mode, 1}, &report);
            // Every code a row holds indexes its dictionary.
            const auto* session = log.session.data<int32_t>();
            const auto* track = log.track.data<int32_t>();
            for (int64_t i = 0; i < log.rows; ++i)
                if (session[i] < 0 || session[i] >= log.num_sessions() || track[i] < 0 ||
                    static_cast<size_t>(track[i]) >= log.track_ids.size())
                    __builtin_trap();
        } catch (const DataError&) {
        }
    }
    return 0;
}
