#include "tools/session_input.h"

#include <set>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "tools/predictor.h"

namespace skipper::tools {

namespace {

using nlohmann::json;

// One JSON value as the CSV field a raw file would hold: booleans as
// true/false, numbers as written, text quoted where it must be, null empty.
std::string csv_field(const json& value, const std::string& field) {
    if (value.is_null()) return "";
    if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
    if (value.is_number()) return value.dump();
    if (!value.is_string()) throw FieldError(field, "expected a text, number or boolean value, got " + value.dump());
    const auto& text = value.get_ref<const std::string&>();
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

const json& array_field(const json& request, const char* name, bool required) {
    static const json empty = json::array();
    const auto it = request.find(name);
    if (it == request.end()) {
        if (required) throw FieldError(name, "missing");
        return empty;
    }
    if (!it->is_array()) throw FieldError(name, "expected an array");
    return *it;
}

// Track features sent in the request, as the track CSV reader reads them.
// `where[i]` is the request field of the i-th object, for errors.
struct SentTracks {
    std::string csv;
    std::vector<std::string> where;
    std::set<std::string> ids;
};

// A track sent twice (a session may play one track twice) is read once.
void add_sent_track(SentTracks& sent, const json& object, const std::string& where, const std::string& id) {
    if (!sent.ids.insert(id).second) return;
    if (sent.csv.empty()) {
        sent.csv = "track_id";
        for (const auto& column : data::track_feature_columns()) sent.csv += "," + column;
        sent.csv += "\n";
    }
    sent.csv += csv_field(id, where + ".track_id");
    for (const auto& column : data::track_feature_columns()) {
        const auto it = object.find(column);
        if (it == object.end()) throw FieldError(where + "." + column, "missing (use null for a missing value)");
        sent.csv += "," + csv_field(*it, where + "." + column);
    }
    sent.csv += "\n";
    sent.where.push_back(where);
}

// A reader's DataError as a FieldError naming the request field of its line.
FieldError field_error(const DataError& error, const std::vector<std::string>& where_of_row) {
    const int64_t row = error.line() - 2;  // line 1 is the header
    std::string field = row >= 0 && row < static_cast<int64_t>(where_of_row.size()) ? where_of_row[row] : "session";
    if (!error.column().empty() && field != "session") field += "." + error.column();
    return FieldError(field, error.what());
}

}  // namespace

SessionInput::SessionInput(data::TrackTable tracks) : tracks_(std::move(tracks)), standardiser_(tracks_) {
    row_of_id_.reserve(tracks_.track_ids.size());
    for (size_t i = 0; i < tracks_.track_ids.size(); ++i) row_of_id_.emplace(tracks_.track_ids[i], static_cast<int64_t>(i));
}

data::MssdData SessionInput::session(const json& request) const {
    if (!request.is_object()) throw FieldError("body", "expected a JSON object with \"history\" and \"tracks\"");
    const json& history = array_field(request, "history", true);
    const json& to_predict = array_field(request, "tracks", true);
    const json& extra_tracks = array_field(request, "track_features", false);
    const auto h = static_cast<int64_t>(history.size()), p = static_cast<int64_t>(to_predict.size());
    const int64_t length = h + p;
    // The WSDM protocol: the history is the first floor(L/2) positions.
    if (p == 0 || data::history_length(static_cast<int32_t>(length)) != h)
        throw FieldError("tracks", "a session of " + std::to_string(h) + " history rows predicts " + std::to_string(h) +
                                       " or " + std::to_string(h + 1) + " tracks (the history is the first half), got " +
                                       std::to_string(p));
    if (length > 1000) throw FieldError("tracks", "a session holds at most 1000 tracks");

    // Tracks sent with their features: by object in "tracks", or in "track_features".
    SentTracks sent;
    std::vector<std::string> track_id_of(static_cast<size_t>(p));
    for (int64_t k = 0; k < p; ++k) {
        const json& entry = to_predict[static_cast<size_t>(k)];
        const std::string where = "tracks[" + std::to_string(k) + "]";
        if (entry.is_string()) {
            track_id_of[k] = entry.get<std::string>();
        } else if (entry.is_object()) {
            const auto id = entry.find("track_id");
            track_id_of[k] = id != entry.end() && id->is_string() ? id->get<std::string>() : where;
            add_sent_track(sent, entry, where, track_id_of[k]);
        } else {
            throw FieldError(where, "expected a track id or an object of track features");
        }
    }
    for (size_t k = 0; k < extra_tracks.size(); ++k) {
        const std::string where = "track_features[" + std::to_string(k) + "]";
        const json& entry = extra_tracks[k];
        if (!entry.is_object()) throw FieldError(where, "expected an object of track features with its track_id");
        const auto id = entry.find("track_id");
        if (id == entry.end() || !id->is_string()) throw FieldError(where + ".track_id", "expected the track's id");
        add_sent_track(sent, entry, where, id->get<std::string>());
    }

    // The session log as CSV text: history rows as sent, then the rows to predict.
    const auto& columns = data::session_log_columns();
    std::string log_csv;
    for (size_t c = 0; c < columns.size(); ++c) log_csv += (c ? "," : "") + columns[c];
    log_csv += "\n";
    std::vector<std::string> where_of_row;
    for (int64_t i = 0; i < h; ++i) {
        const json& row = history[static_cast<size_t>(i)];
        const std::string where = "history[" + std::to_string(i) + "]";
        if (!row.is_object()) throw FieldError(where, "expected an object: one log row, by column name");
        const json implied[] = {"request", i + 1, length};  // session_id, session_position, session_length
        for (size_t c = 0; c < columns.size(); ++c) {
            const std::string field = where + "." + columns[c];
            const auto it = row.find(columns[c]);
            if (c < 3) {
                if (it != row.end() && c > 0 && csv_field(*it, field) != csv_field(implied[c], field))
                    throw FieldError(field, "expected " + implied[c].dump() + " (history rows are positions 1.." +
                                                std::to_string(h) + " of a session of " + std::to_string(length) +
                                                " tracks), got " + it->dump());
                log_csv += (c ? "," : "") + csv_field(implied[c], field);
                continue;
            }
            if (it == row.end()) throw FieldError(field, "missing");
            log_csv += "," + csv_field(*it, field);
        }
        log_csv += "\n";
        where_of_row.push_back(where);
    }
    // What the client does not know of the tracks to predict: neutral values,
    // never read by the builders at these positions.
    const json& last = history.empty() ? json() : history.back();
    for (int64_t k = 0; k < p; ++k) {
        const std::string where = "tracks[" + std::to_string(k) + "]";
        log_csv += "request," + std::to_string(h + k + 1) + "," + std::to_string(length) + "," +
                   csv_field(track_id_of[k], where);
        log_csv += ",false,false,false,false,0,0,0,0,0,0,false,0";
        log_csv += last.is_object() && last.contains("date") ? "," + csv_field(last["date"], where) : ",2018-07-15";
        log_csv += ",false," + data::context_type_values()[0] + "," + data::reason_start_values()[0] + "," +
                   data::reason_end_values()[0] + "\n";
        where_of_row.push_back(where);
    }

    data::ReadOptions one_thread;
    one_thread.num_threads = 1;
    data::SessionLog log;
    try {
        log = data::parse_session_log(log_csv, "request", one_thread);
    } catch (const DataError& e) {
        throw field_error(e, where_of_row);
    }

    // The request's track table: the tracks it sent, then those it names from the server's table.
    data::TrackTable tracks;
    if (!sent.csv.empty()) {
        try {
            tracks = data::parse_track_features(sent.csv, "request", one_thread);
        } catch (const DataError& e) {
            throw field_error(e, sent.where);
        }
    } else {
        tracks.values = Tensor::empty({0, static_cast<int64_t>(data::track_feature_columns().size())}, DType::f32);
    }
    const auto width = static_cast<int64_t>(data::track_feature_columns().size());
    std::vector<float> values = tracks.values.to_vector<float>();
    std::unordered_map<std::string, int64_t> known;
    for (size_t i = 0; i < tracks.track_ids.size(); ++i) known.emplace(tracks.track_ids[i], static_cast<int64_t>(i));
    for (const auto& id : log.track_ids) {
        if (known.count(id)) continue;
        const auto it = row_of_id_.find(id);
        if (it == row_of_id_.end()) continue;  // the join below names it
        const float* row = tracks_.values.data<float>() + it->second * width;
        values.insert(values.end(), row, row + width);
        known.emplace(id, static_cast<int64_t>(tracks.track_ids.size()));
        tracks.track_ids.push_back(id);
    }
    tracks.values = Tensor::from_vector<float>(values, {static_cast<int64_t>(tracks.track_ids.size()), width});
    tracks.source = tracks_.source.empty() ? "the server's track table (none: serve was given no tracks=)"
                                           : tracks_.source + " or the request's track_features";
    try {
        return data::join_tracks(std::move(log), std::move(tracks), one_thread);
    } catch (const DataError& e) {
        throw field_error(e, where_of_row);
    }
}

}  // namespace skipper::tools
