#include "trainer/data/mssd.h"

#include <omp.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>

#include "engine/error.h"
#include "trainer/data/csv.h"
#include "trainer/data/text_codes.h"

namespace skipper::data {

namespace {

using csv::ColumnSpec;
using csv::Kind;

// Session-log columns that the reader keeps, in raw-file order (all 21).
std::vector<ColumnSpec> session_log_specs() {
    return {
        {"session_id", Kind::text},
        {"session_position", Kind::integer, {}, 1, 1000},
        {"session_length", Kind::integer, {}, 1, 1000},
        {"track_id_clean", Kind::text},
        {"skip_1", Kind::boolean},
        {"skip_2", Kind::boolean},
        {"skip_3", Kind::boolean},
        {"not_skipped", Kind::boolean},
        {"context_switch", Kind::boolean},
        {"no_pause_before_play", Kind::boolean},
        {"short_pause_before_play", Kind::boolean},
        {"long_pause_before_play", Kind::boolean},
        {"hist_user_behavior_n_seekfwd", Kind::integer, {}, 0},
        {"hist_user_behavior_n_seekback", Kind::integer, {}, 0},
        {"hist_user_behavior_is_shuffle", Kind::boolean},
        {"hour_of_day", Kind::integer, {}, 0, 23},
        {"date", Kind::date},
        {"premium", Kind::boolean},
        {"context_type", Kind::text, context_type_values()},
        {"hist_user_behavior_reason_start", Kind::text, reason_start_values()},
        {"hist_user_behavior_reason_end", Kind::text, reason_end_values()},
    };
}

// Keeps the rows listed in `keep` (ascending) of a 1-D tensor.
Tensor gather_rows(const Tensor& column, const std::vector<int64_t>& keep) {
    Tensor out = Tensor::empty({static_cast<int64_t>(keep.size())}, column.dtype());
    const size_t width = dtype_size(column.dtype());
    const auto* src = static_cast<const char*>(column.raw());
    auto* dst = static_cast<char*>(out.raw());
    for (size_t i = 0; i < keep.size(); ++i)
        std::memcpy(dst + i * width, src + static_cast<size_t>(keep[i]) * width, width);
    return out;
}

// Every per-row column of a session log.
std::vector<Tensor*> log_columns(SessionLog& log) {
    return {&log.session, &log.session_position, &log.session_length, &log.track, &log.skip_1,
            &log.skip_2, &log.skip_3, &log.not_skipped, &log.context_switch, &log.no_pause_before_play,
            &log.short_pause_before_play, &log.long_pause_before_play,
            &log.hist_user_behavior_n_seekfwd, &log.hist_user_behavior_n_seekback,
            &log.hist_user_behavior_is_shuffle, &log.hour_of_day, &log.date, &log.premium,
            &log.context_type, &log.hist_user_behavior_reason_start,
            &log.hist_user_behavior_reason_end};
}

// Buffered writing of a whole CSV file: rows are formatted into a string per
// block of rows, in parallel, and the blocks are written in order.
class CsvFile {
public:
    explicit CsvFile(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "wb")) {
        if (!file_) throw DataError(path, 0, "", std::string("cannot create the file: ") + std::strerror(errno));
    }
    void write(std::string_view text) {
        if (std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size())
            throw DataError(path_, 0, "", std::string("write failed: ") + std::strerror(errno));
    }
    void close() {
        if (std::fclose(file_.release()) != 0)
            throw DataError(path_, 0, "", std::string("write failed: ") + std::strerror(errno));
    }

private:
    struct Closer {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    std::string path_;
    std::unique_ptr<std::FILE, Closer> file_;
};

void append_int(std::string& out, int64_t value) {
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

void append_float(std::string& out, float value) {
    if (std::isnan(value)) return;  // missing: empty field
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.append(buffer, result.ptr);
}

void append_date(std::string& out, int32_t days) {
    // civil_from_days (Howard Hinnant's algorithm).
    const int64_t z = int64_t{days} + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    const auto digits = [&out](int64_t value, int width) {
        char buffer[8];
        for (int i = width - 1; i >= 0; --i, value /= 10) buffer[i] = static_cast<char>('0' + value % 10);
        out.append(buffer, static_cast<size_t>(width));
    };
    digits(year, 4);
    out += '-';
    digits(month, 2);
    out += '-';
    digits(day, 2);
}

// Formats rows [0, rows) with `format_row` in parallel blocks and writes them after `header`.
template <class FormatRow> void write_rows(const std::string& path, const std::string& header, int64_t rows,
                                           FormatRow format_row) {
    CsvFile file(path);
    file.write(header);
    constexpr int64_t kBlock = 1 << 15;
    const int64_t blocks = (rows + kBlock - 1) / kBlock;
    const int threads = omp_get_max_threads();
    for (int64_t first = 0; first < blocks; first += threads) {
        const int64_t count = std::min<int64_t>(threads, blocks - first);
        std::vector<std::string> texts(static_cast<size_t>(count));
#pragma omp parallel for schedule(static, 1) num_threads(threads)
        for (int64_t b = 0; b < count; ++b) {
            std::string& text = texts[b];
            const int64_t begin = (first + b) * kBlock;
            const int64_t end = std::min(rows, begin + kBlock);
            text.reserve(static_cast<size_t>(end - begin) * 256);
            for (int64_t i = begin; i < end; ++i) format_row(text, i);
        }
        for (const auto& text : texts) file.write(text);
    }
    file.close();
}

}  // namespace

OnBadRow parse_on_bad_row(const std::string& text) {
    if (text == "error") return OnBadRow::error;
    if (text == "skip") return OnBadRow::skip;
    throw ParamError("on_bad_row", "'" + text + "' is not one of error, skip");
}

const std::vector<std::string>& context_type_values() {
    static const std::vector<std::string> values = {"user_collection", "editorial_playlist", "catalog",
                                                    "radio",           "personalized_playlist", "charts"};
    return values;
}

const std::vector<std::string>& reason_start_values() {
    static const std::vector<std::string> values = {"fwdbtn", "trackdone", "clickrow", "backbtn",
                                                    "remote", "playbtn",   "appload",  "trackerror"};
    return values;
}

const std::vector<std::string>& reason_end_values() {
    static const std::vector<std::string> values = {"fwdbtn", "trackdone", "endplay", "backbtn", "logout", "remote"};
    return values;
}

const std::vector<std::string>& session_log_columns() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> out;
        for (const auto& spec : session_log_specs()) out.push_back(spec.name);
        return out;
    }();
    return names;
}

const std::vector<std::string>& track_feature_columns() {
    static const std::vector<std::string> names = {
        "duration",   "release_year",     "us_popularity_estimate", "acousticness", "beat_strength",
        "bounciness", "danceability",     "dyn_range_mean",         "energy",       "flatness",
        "instrumentalness", "key",        "liveness",               "loudness",     "mechanism",
        "mode",       "organism",         "speechiness",            "tempo",        "time_signature",
        "valence",    "acoustic_vector_0", "acoustic_vector_1",     "acoustic_vector_2", "acoustic_vector_3",
        "acoustic_vector_4", "acoustic_vector_5", "acoustic_vector_6", "acoustic_vector_7"};
    return names;
}

namespace {

SessionLog session_log_of(csv::Table table, const std::string& path, const ReadOptions& options, ReadReport* report) {
    SessionLog log;
    log.source = path;
    log.rows = table.rows;
    auto column = [&](size_t i) -> csv::Column& { return table.columns[i]; };
    log.session = column(0).values;
    log.session_ids = std::move(column(0).dictionary);
    log.session_position = column(1).values;
    log.session_length = column(2).values;
    log.track = column(3).values;
    log.track_ids = std::move(column(3).dictionary);
    log.skip_1 = column(4).values;
    log.skip_2 = column(5).values;
    log.skip_3 = column(6).values;
    log.not_skipped = column(7).values;
    log.context_switch = column(8).values;
    log.no_pause_before_play = column(9).values;
    log.short_pause_before_play = column(10).values;
    log.long_pause_before_play = column(11).values;
    log.hist_user_behavior_n_seekfwd = column(12).values;
    log.hist_user_behavior_n_seekback = column(13).values;
    log.hist_user_behavior_is_shuffle = column(14).values;
    log.hour_of_day = column(15).values;
    log.date = column(16).values;
    log.premium = column(17).values;
    log.context_type = column(18).values;
    log.context_type_names = std::move(column(18).dictionary);
    log.hist_user_behavior_reason_start = column(19).values;
    log.reason_start_names = std::move(column(19).dictionary);
    log.hist_user_behavior_reason_end = column(20).values;
    log.reason_end_names = std::move(column(20).dictionary);
    log.source_line = std::move(table.line);

    // A position past its session's length is malformed too.
    const auto* position = log.session_position.data<int32_t>();
    const auto* length = log.session_length.data<int32_t>();
    std::vector<int64_t> keep;
    int64_t bad = 0;
    for (int64_t i = 0; i < log.rows; ++i) {
        if (position[i] <= length[i]) {
            keep.push_back(i);
            continue;
        }
        const DataError error(path, log.source_line[i], "session_position",
                              "found '" + std::to_string(position[i]) + "', expected a position in [1, session_length = " +
                                  std::to_string(length[i]) + "]");
        if (options.on_bad_row == OnBadRow::error) throw error;
        ++bad;
        if (report != nullptr && report->problems.size() < ReadReport::kMaxProblems)
            report->problems.push_back(error.what());
    }
    if (bad > 0) {
        keep_log_rows(log, keep);
        if (report != nullptr) {
            report->rows_read -= bad;
            report->rows_skipped += bad;
        }
    }
    return log;
}

std::vector<ColumnSpec> track_feature_specs() {
    std::vector<ColumnSpec> specs{{"track_id", Kind::text}};
    for (const auto& name : track_feature_columns())
        specs.push_back(name == "mode" ? ColumnSpec{name, Kind::choice, {"minor", "major"}} : ColumnSpec{name, Kind::real});
    return specs;
}

TrackTable track_table_of(csv::Table table, const std::string& path, const ReadOptions& options, ReadReport* report) {
    TrackTable tracks;
    tracks.source = path;
    const auto columns = static_cast<int64_t>(track_feature_columns().size());
    const auto* codes = table.columns[0].values.data<int32_t>();
    const auto& ids = table.columns[0].dictionary;

    // A track id listed twice is malformed: the second row is refused (or skipped).
    std::vector<int64_t> keep;
    keep.reserve(static_cast<size_t>(table.rows));
    std::vector<bool> seen(ids.size(), false);
    for (int64_t i = 0; i < table.rows; ++i) {
        const auto code = static_cast<size_t>(codes[i]);
        if (!seen[code]) {
            seen[code] = true;
            keep.push_back(i);
            continue;
        }
        const DataError error(path, table.line[i], "track_id", "found '" + ids[code] + "' again, expected each track id once");
        if (options.on_bad_row == OnBadRow::error) throw error;
        if (report != nullptr) {
            --report->rows_read;
            ++report->rows_skipped;
            if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(error.what());
        }
    }
    const auto rows = static_cast<int64_t>(keep.size());
    tracks.track_ids.resize(keep.size());
    tracks.values = Tensor::empty({rows, columns}, DType::f32);
    float* values = tracks.values.data<float>();
    // Each kept row holds a distinct id, so the dictionary's strings can be moved out.
    std::vector<std::string>& id_names = table.columns[0].dictionary;
    for (int64_t r = 0; r < rows; ++r) tracks.track_ids[r] = std::move(id_names[static_cast<size_t>(codes[keep[r]])]);
    // The columns' types and data looked up once, not once a value.
    std::vector<const float*> reals(static_cast<size_t>(columns), nullptr);
    std::vector<const int32_t*> integers(static_cast<size_t>(columns), nullptr);
    for (int64_t c = 0; c < columns; ++c) {
        const Tensor& column = table.columns[static_cast<size_t>(c) + 1].values;
        if (column.dtype() == DType::f32) reals[c] = column.data<float>();
        else integers[c] = column.data<int32_t>();
    }
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = keep[r];
        for (int64_t c = 0; c < columns; ++c)
            values[r * columns + c] = reals[c] != nullptr ? reals[c][i] : static_cast<float>(integers[c][i]);
    }
    return tracks;
}

}  // namespace

SessionLog read_session_log(const std::string& path, const ReadOptions& options, ReadReport* report) {
    return session_log_of(csv::read_csv(path, session_log_specs(), options, report), path, options, report);
}

SessionLog parse_session_log(std::string_view text, const std::string& source, const ReadOptions& options,
                             ReadReport* report) {
    return session_log_of(csv::parse_csv(text, source, session_log_specs(), options, report), source, options, report);
}

TrackTable read_track_features(const std::string& path, const ReadOptions& options, ReadReport* report) {
    return track_table_of(csv::read_csv(path, track_feature_specs(), options, report), path, options, report);
}

TrackTable parse_track_features(std::string_view text, const std::string& source, const ReadOptions& options,
                                ReadReport* report) {
    return track_table_of(csv::parse_csv(text, source, track_feature_specs(), options, report), source, options,
                          report);
}

SessionLog parse_session_log(std::string_view header, std::string_view body, const std::string& source,
                             const ReadOptions& options, ReadReport* report) {
    return session_log_of(csv::parse_csv(header, body, source, session_log_specs(), options, report), source, options,
                          report);
}

TrackTable parse_track_features(std::string_view header, std::string_view body, const std::string& source,
                                const ReadOptions& options, ReadReport* report) {
    return track_table_of(csv::parse_csv(header, body, source, track_feature_specs(), options, report), source,
                          options, report);
}

MssdData join_tracks(SessionLog log, TrackTable tracks, const ReadOptions& options, ReadReport* report) {
    // Track ids are unique (the reader checks), so a track's code in this table is its row.
    TextCodes row_of_id;
    row_of_id.reserve(static_cast<size_t>(tracks.rows()));
    for (const auto& id : tracks.track_ids) row_of_id.insert(id);

    // Look each distinct log track up once; join_track_rows gathers per row.
    std::vector<int32_t> row_of_code(log.track_ids.size(), -1);
    for (size_t c = 0; c < log.track_ids.size(); ++c) row_of_code[c] = row_of_id.find(log.track_ids[c]);
    return join_track_rows(std::move(log), row_of_code, std::move(tracks), options, report);
}

MssdData join_track_rows(SessionLog log, const std::vector<int32_t>& row_of_code, TrackTable tracks,
                         const ReadOptions& options, ReadReport* report) {
    const auto* code = log.track.data<int32_t>();
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < log.rows; ++i) {
        if (row_of_code[static_cast<size_t>(code[i])] >= 0) {
            keep.push_back(i);
            continue;
        }
        const DataError error(log.source, log.source_line.empty() ? 0 : log.source_line[i], "track_id_clean",
                              "found unknown track id '" + log.track_ids[static_cast<size_t>(code[i])] +
                                  "', expected a track_id listed in " + tracks.source);
        if (options.on_bad_row == OnBadRow::error) throw error;
        if (report != nullptr && report->problems.size() < ReadReport::kMaxProblems)
            report->problems.push_back(error.what());
    }
    const int64_t dropped = log.rows - static_cast<int64_t>(keep.size());
    if (dropped > 0) {
        keep_log_rows(log, keep);
        if (report != nullptr) {
            report->rows_read -= dropped;
            report->rows_unknown_track += dropped;
        }
    }

    MssdData data;
    data.track_row = Tensor::empty({log.rows}, DType::i32);
    int32_t* track_row = data.track_row.data<int32_t>();
    code = log.track.data<int32_t>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < log.rows; ++i) track_row[i] = row_of_code[static_cast<size_t>(code[i])];
    data.log = std::move(log);
    data.tracks = std::move(tracks);
    return data;
}

MssdData load_mssd(const std::string& log_path, const std::string& tracks_path, const ReadOptions& options,
                   ReadReport* report) {
    SessionLog log = read_session_log(log_path, options, report);
    ReadReport track_report;
    TrackTable tracks = read_track_features(tracks_path, options, &track_report);
    if (report != nullptr) {
        // rows_read counts log rows; skipped track rows still count as skipped.
        report->rows_skipped += track_report.rows_skipped;
        for (auto& p : track_report.problems)
            if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(std::move(p));
    }
    return join_tracks(std::move(log), std::move(tracks), options, report);
}

void keep_log_rows(SessionLog& log, const std::vector<int64_t>& keep) {
    for (Tensor* column : log_columns(log)) *column = gather_rows(*column, keep);
    if (!log.source_line.empty()) {
        std::vector<int64_t> lines(keep.size());
        for (size_t i = 0; i < keep.size(); ++i) lines[i] = log.source_line[static_cast<size_t>(keep[i])];
        log.source_line = std::move(lines);
    }
    log.rows = static_cast<int64_t>(keep.size());
}

void keep_sessions(SessionLog& log, const std::vector<uint8_t>& keep) {
    std::vector<int32_t> new_code(log.session_ids.size(), -1);
    std::vector<std::string> ids;
    for (size_t s = 0; s < keep.size(); ++s)
        if (keep[s]) {
            new_code[s] = static_cast<int32_t>(ids.size());
            ids.push_back(std::move(log.session_ids[s]));
        }
    const auto* session = log.session.data<int32_t>();
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < log.rows; ++i)
        if (new_code[static_cast<size_t>(session[i])] >= 0) rows.push_back(i);
    keep_log_rows(log, rows);
    int32_t* code = log.session.data<int32_t>();
    for (int64_t i = 0; i < log.rows; ++i) code[i] = new_code[static_cast<size_t>(code[i])];
    log.session_ids = std::move(ids);
}

namespace {

// Codes of `part`'s dictionary in `into`'s, adding the names `into` lacks.
std::vector<int32_t> merge_dictionary(std::vector<std::string>& into, const std::vector<std::string>& part) {
    TextCodes codes;
    codes.reserve(into.size() + part.size());
    for (const auto& name : into) codes.insert(name);
    std::vector<int32_t> out(part.size());
    for (size_t c = 0; c < part.size(); ++c) {
        out[c] = codes.find(part[c]);
        if (out[c] < 0) {
            out[c] = static_cast<int32_t>(into.size());
            into.push_back(part[c]);
            codes.insert(into.back());
        }
    }
    return out;
}

Tensor concat_rows(const Tensor& a, const Tensor& b) {
    Tensor out = Tensor::empty({a.numel() + b.numel()}, a.dtype());
    std::memcpy(out.raw(), a.raw(), a.nbytes());
    std::memcpy(static_cast<char*>(out.raw()) + a.nbytes(), b.raw(), b.nbytes());
    return out;
}

}  // namespace

void append_session_log(SessionLog& into, SessionLog part, bool same_sessions) {
    if (!same_sessions && into.rows == 0 && into.session_ids.empty()) {
        into = std::move(part);
        return;
    }
    if (!same_sessions) {
        // Sessions lie whole within one file, so part's sessions are new ones.
        const auto session_offset = static_cast<int32_t>(into.session_ids.size());
        int32_t* session = part.session.data<int32_t>();
        for (int64_t i = 0; i < part.rows; ++i) session[i] += session_offset;
        into.session_ids.insert(into.session_ids.end(), std::make_move_iterator(part.session_ids.begin()),
                                std::make_move_iterator(part.session_ids.end()));
    }
    const auto recode = [&](Tensor& column, std::vector<std::string>& names, const std::vector<std::string>& part_names) {
        const auto code = merge_dictionary(names, part_names);
        int32_t* values = column.data<int32_t>();
        for (int64_t i = 0; i < part.rows; ++i) values[i] = code[static_cast<size_t>(values[i])];
    };
    recode(part.track, into.track_ids, part.track_ids);
    recode(part.context_type, into.context_type_names, part.context_type_names);
    recode(part.hist_user_behavior_reason_start, into.reason_start_names, part.reason_start_names);
    recode(part.hist_user_behavior_reason_end, into.reason_end_names, part.reason_end_names);
    const auto into_columns = log_columns(into), part_columns = log_columns(part);
    for (size_t c = 0; c < into_columns.size(); ++c) *into_columns[c] = concat_rows(*into_columns[c], *part_columns[c]);
    into.source_line.insert(into.source_line.end(), part.source_line.begin(), part.source_line.end());
    into.source += ", " + part.source;
    into.rows += part.rows;
}

void append_track_table(TrackTable& into, TrackTable part) {
    if (into.track_ids.empty()) {
        into = std::move(part);
        return;
    }
    TextCodes codes;
    codes.reserve(into.track_ids.size());
    for (const auto& id : into.track_ids) codes.insert(id);
    for (const auto& id : part.track_ids)
        if (codes.find(id) >= 0)
            throw DataError(part.source, 0, "track_id", "track '" + id + "' is also listed in " + into.source +
                                                            ", expected each track id in one file");
    into.track_ids.insert(into.track_ids.end(), std::make_move_iterator(part.track_ids.begin()),
                          std::make_move_iterator(part.track_ids.end()));
    Tensor values = Tensor::empty({into.values.size(0) + part.values.size(0), into.values.size(1)}, DType::f32);
    std::memcpy(values.raw(), into.values.raw(), into.values.nbytes());
    std::memcpy(static_cast<char*>(values.raw()) + into.values.nbytes(), part.values.raw(), part.values.nbytes());
    into.values = std::move(values);
    into.source += ", " + part.source;
}

void write_session_log_csv(const SessionLog& log, const std::string& path) {
    std::string header;
    for (const auto& name : session_log_columns()) header += (header.empty() ? "" : ",") + name;
    header += '\n';
    const auto* session = log.session.data<int32_t>();
    const auto* position = log.session_position.data<int32_t>();
    const auto* length = log.session_length.data<int32_t>();
    const auto* track = log.track.data<int32_t>();
    const uint8_t* flags[] = {log.skip_1.data<uint8_t>(), log.skip_2.data<uint8_t>(), log.skip_3.data<uint8_t>(),
                              log.not_skipped.data<uint8_t>()};
    const uint8_t* zero_one[] = {log.context_switch.data<uint8_t>(), log.no_pause_before_play.data<uint8_t>(),
                                 log.short_pause_before_play.data<uint8_t>(),
                                 log.long_pause_before_play.data<uint8_t>()};
    const auto* seekfwd = log.hist_user_behavior_n_seekfwd.data<int32_t>();
    const auto* seekback = log.hist_user_behavior_n_seekback.data<int32_t>();
    const auto* shuffle = log.hist_user_behavior_is_shuffle.data<uint8_t>();
    const auto* hour = log.hour_of_day.data<int32_t>();
    const auto* date = log.date.data<int32_t>();
    const auto* premium = log.premium.data<uint8_t>();
    const auto* context = log.context_type.data<int32_t>();
    const auto* reason_start = log.hist_user_behavior_reason_start.data<int32_t>();
    const auto* reason_end = log.hist_user_behavior_reason_end.data<int32_t>();
    auto boolean = [](uint8_t v) { return v ? "true," : "false,"; };
    write_rows(path, header, log.rows, [&](std::string& out, int64_t i) {
        out += log.session_ids[static_cast<size_t>(session[i])];
        out += ',';
        append_int(out, position[i]);
        out += ',';
        append_int(out, length[i]);
        out += ',';
        out += log.track_ids[static_cast<size_t>(track[i])];
        out += ',';
        for (const uint8_t* flag : flags) out += boolean(flag[i]);
        for (const uint8_t* flag : zero_one) out += flag[i] ? "1," : "0,";
        append_int(out, seekfwd[i]);
        out += ',';
        append_int(out, seekback[i]);
        out += ',';
        out += boolean(shuffle[i]);
        append_int(out, hour[i]);
        out += ',';
        append_date(out, date[i]);
        out += ',';
        out += boolean(premium[i]);
        out += log.context_type_names[static_cast<size_t>(context[i])];
        out += ',';
        out += log.reason_start_names[static_cast<size_t>(reason_start[i])];
        out += ',';
        out += log.reason_end_names[static_cast<size_t>(reason_end[i])];
        out += '\n';
    });
}

void write_track_features_csv(const TrackTable& tracks, const std::string& path) {
    std::string header = "track_id";
    for (const auto& name : track_feature_columns()) header += "," + name;
    header += '\n';
    const auto& names = track_feature_columns();
    const auto columns = static_cast<int64_t>(names.size());
    std::vector<bool> is_integer(names.size()), is_mode(names.size());
    for (size_t c = 0; c < names.size(); ++c) {
        is_integer[c] = names[c] == "release_year" || names[c] == "key" || names[c] == "time_signature";
        is_mode[c] = names[c] == "mode";
    }
    const float* values = tracks.values.data<float>();
    write_rows(path, header, tracks.rows(), [&](std::string& out, int64_t r) {
        out += tracks.track_ids[static_cast<size_t>(r)];
        for (int64_t c = 0; c < columns; ++c) {
            out += ',';
            const float v = values[r * columns + c];
            if (is_mode[static_cast<size_t>(c)]) out += v != 0.0f ? "major" : "minor";
            else if (is_integer[static_cast<size_t>(c)] && !std::isnan(v)) append_int(out, std::lround(v));
            else append_float(out, v);
        }
        out += '\n';
    });
}

int32_t days_from_civil(int year, int month, int day) {
    // Howard Hinnant's days_from_civil.
    const int y = year - (month <= 2 ? 1 : 0);
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int32_t day_of_week(int32_t days_since_epoch) {
    // 1970-01-01 was a Thursday (3 with Monday = 0).
    const int32_t shifted = (days_since_epoch + 3) % 7;
    return shifted < 0 ? shifted + 7 : shifted;
}

}  // namespace skipper::data
