// The server's request handling on arbitrary bytes, through the same parser
// and limits as the network path (tools::answer_raw_request): one API serving
// a row model, one serving a session model with a track table. Every answer
// is an HTTP status with a body; nothing throws or faults.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tools/predictor.h"
#include "tools/server_api.h"
#include "tools/session_input.h"
#include "trainer/data/mssd.h"

namespace {

std::string corpus_file(const std::string& name) { return std::string(SKIPPER_SOURCE_DIR) + "/tests/fuzz/corpus/" + name; }

struct Apis {
    skipper::tools::Api rows{skipper::tools::load_predictor(corpus_file("gbdt_model/gbdt_seed.skm")), nullptr,
                             {4096, 100}};
    skipper::tools::Api sessions{
        skipper::tools::load_predictor(corpus_file("gbdt_model/gbdt_session.skm")),
        std::make_shared<const skipper::tools::SessionInput>(
            skipper::data::read_track_features(corpus_file("track_features/generated.csv"))),
        {4096, 100}};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Apis apis;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    for (const skipper::tools::Api* api : {&apis.rows, &apis.sessions}) {
        const skipper::tools::ApiResponse answer = skipper::tools::answer_raw_request(*api, bytes);
        if (answer.status < 200 || answer.status > 599 || answer.content_type.empty()) __builtin_trap();
    }
    return 0;
}
