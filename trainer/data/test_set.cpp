#include "trainer/data/test_set.h"

#include <filesystem>
#include <map>

#include "engine/error.h"
#include "trainer/data/csv.h"
#include "trainer/data/text_codes.h"

namespace skipper::data {

std::vector<std::pair<std::string, std::string>> pair_test_files(const std::vector<std::string>& prehistory,
                                                                 const std::vector<std::string>& inputs) {
    const auto suffix = [](const std::string& path, const std::string& prefix) {
        return std::filesystem::path(path).filename().string().substr(prefix.size());
    };
    std::map<std::string, std::string> input_of;
    for (const auto& path : inputs) input_of[suffix(path, "log_input")] = path;
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& path : prehistory) {
        const auto it = input_of.find(suffix(path, "log_prehistory"));
        if (it == input_of.end())
            throw DataError(path, 0, "", "found no log_input file with the same suffix to pair with this prehistory file");
        pairs.emplace_back(path, it->second);
        input_of.erase(it);
    }
    if (!input_of.empty())
        throw DataError(input_of.begin()->second, 0, "", "found no log_prehistory file with the same suffix to pair with this input file");
    return pairs;
}

SessionLog read_test_pair(const std::string& prehistory_path, const std::string& input_path, const ReadOptions& options) {
    SessionLog history = read_session_log(prehistory_path, options, nullptr);
    const csv::Table input = csv::read_csv(input_path,
                                           {{"session_id", csv::Kind::text},
                                            {"session_position", csv::Kind::integer, {}, 1, 1000},
                                            {"session_length", csv::Kind::integer, {}, 1, 1000},
                                            {"track_id_clean", csv::Kind::text}},
                                           options, nullptr);
    // The predicted rows as a log of their own, then appended to the history
    // by session id: input order first, so its codes number the sessions.
    SessionLog predicted;
    predicted.source = input_path;
    predicted.rows = input.rows;
    predicted.session = input.columns[0].values;
    predicted.session_ids = input.columns[0].dictionary;
    predicted.session_position = input.columns[1].values;
    predicted.session_length = input.columns[2].values;
    predicted.track = input.columns[3].values;
    predicted.track_ids = input.columns[3].dictionary;
    for (Tensor* column : {&predicted.skip_1, &predicted.skip_2, &predicted.skip_3, &predicted.not_skipped,
                           &predicted.context_switch, &predicted.no_pause_before_play, &predicted.short_pause_before_play,
                           &predicted.long_pause_before_play, &predicted.hist_user_behavior_is_shuffle, &predicted.premium})
        *column = Tensor::zeros({input.rows}, DType::u8);
    for (Tensor* column : {&predicted.hist_user_behavior_n_seekfwd, &predicted.hist_user_behavior_n_seekback,
                           &predicted.hour_of_day, &predicted.date, &predicted.context_type,
                           &predicted.hist_user_behavior_reason_start, &predicted.hist_user_behavior_reason_end})
        *column = Tensor::zeros({input.rows}, DType::i32);
    predicted.context_type_names = history.context_type_names;
    predicted.reason_start_names = history.reason_start_names;
    predicted.reason_end_names = history.reason_end_names;
    predicted.source_line = input.line;

    // History sessions renumbered into the input's codes.
    TextCodes code_of;
    code_of.reserve(predicted.session_ids.size());
    for (const auto& id : predicted.session_ids) code_of.insert(id);
    std::vector<uint8_t> has_history(predicted.session_ids.size(), 0);
    std::vector<int32_t> new_code(history.session_ids.size());
    for (size_t s = 0; s < history.session_ids.size(); ++s) {
        new_code[s] = code_of.find(history.session_ids[s]);
        if (new_code[s] < 0)
            throw DataError(prehistory_path, 0, "session_id",
                            "session '" + history.session_ids[s] + "' has no positions to predict in " + input_path);
        has_history[static_cast<size_t>(new_code[s])] = 1;
    }
    for (size_t s = 0; s < has_history.size(); ++s)
        if (!has_history[s])
            throw DataError(input_path, 0, "session_id", "session '" + predicted.session_ids[s] + "' has no prehistory in " + prehistory_path);
    int32_t* session = history.session.data<int32_t>();
    for (int64_t i = 0; i < history.rows; ++i) session[i] = new_code[static_cast<size_t>(session[i])];
    history.session_ids = predicted.session_ids;
    append_session_log(history, std::move(predicted), true);
    return history;
}

}  // namespace skipper::data
