// MSSD tables in columnar form, their CSV readers and the join of session logs
// with track features.
//
// Columns are found by header name (any order, extra columns ignored). Values
// are parsed in parallel over chunks of the file straight into columnar host
// tensors. Text columns are dictionary-encoded: the tensor holds i32 codes into
// a vector of names, codes numbered in order of first appearance in the file
// (categorical columns start from their documented value set, so their codes
// are the same in every file).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"

namespace skipper::data {

enum class OnBadRow { error, skip };
OnBadRow parse_on_bad_row(const std::string& text);  // "error" | "skip"; ParamError otherwise

struct ReadOptions {
    // error: the first malformed row throws DataError (file, line, column,
    // text found, what was expected). skip: malformed rows are dropped, counted
    // in the ReadReport, and the first few problems are kept as messages.
    OnBadRow on_bad_row = OnBadRow::error;
    int num_threads = 0;  // 0 = every core
    // Lines of the file before the text's header line: a window of a file
    // read in pieces (the header line in front of each window) reports the
    // file's own line numbers.
    int64_t line_offset = 0;
};

struct ReadReport {
    int64_t rows_read = 0;                // rows kept
    int64_t rows_skipped = 0;             // malformed rows dropped (on_bad_row=skip)
    int64_t rows_unknown_track = 0;       // log rows dropped by the join (on_bad_row=skip)
    std::vector<std::string> problems;    // the first few skipped rows' messages
    static constexpr size_t kMaxProblems = 10;
};

// The categorical value sets of DESIGN section 5, in their documented order.
const std::vector<std::string>& context_type_values();
const std::vector<std::string>& reason_start_values();
const std::vector<std::string>& reason_end_values();

// The 21 session-log columns in raw-file order.
const std::vector<std::string>& session_log_columns();

// One row per played track. Booleans and 0/1 flags are u8 (0/1); counts, hour,
// positions and codes are i32; `date` is i32 days since 1970-01-01.
struct SessionLog {
    std::string source;  // the file it came from ("generated" for the generator)
    int64_t rows = 0;

    Tensor session;  // i32 code into session_ids
    std::vector<std::string> session_ids;
    Tensor session_position;  // i32, 1-based
    Tensor session_length;    // i32
    Tensor track;             // i32 code into track_ids (track_id_clean)
    std::vector<std::string> track_ids;

    Tensor skip_1, skip_2, skip_3, not_skipped;  // u8
    Tensor context_switch;                       // u8
    Tensor no_pause_before_play, short_pause_before_play, long_pause_before_play;  // u8
    Tensor hist_user_behavior_n_seekfwd, hist_user_behavior_n_seekback;           // i32
    Tensor hist_user_behavior_is_shuffle;                                          // u8
    Tensor hour_of_day;  // i32 0..23
    Tensor date;         // i32 days since 1970-01-01
    Tensor premium;      // u8

    Tensor context_type;  // i32 code into context_type_names
    std::vector<std::string> context_type_names;
    Tensor hist_user_behavior_reason_start;  // i32 code into reason_start_names
    std::vector<std::string> reason_start_names;
    Tensor hist_user_behavior_reason_end;  // i32 code into reason_end_names
    std::vector<std::string> reason_end_names;

    // 1-based line of each row in `source` (for join errors); empty when generated.
    std::vector<int64_t> source_line;

    int64_t num_sessions() const { return static_cast<int64_t>(session_ids.size()); }
};

// The numeric track-feature columns, in raw-file order after track_id
// (mode is stored as 1 = major, 0 = minor).
const std::vector<std::string>& track_feature_columns();

struct TrackTable {
    std::string source;
    std::vector<std::string> track_ids;  // row -> id
    Tensor values;  // f32 [tracks, track_feature_columns().size()]

    int64_t rows() const { return static_cast<int64_t>(track_ids.size()); }
};

// Readers. Both accept booleans as true/false, True/False or 0/1, CRLF line
// ends, quoted fields and a UTF-8 byte-order mark. An empty file, a file with a
// header only, or a missing required column is a DataError naming it.
SessionLog read_session_log(const std::string& path, const ReadOptions& options = {}, ReadReport* report = nullptr);
TrackTable read_track_features(const std::string& path, const ReadOptions& options = {},
                               ReadReport* report = nullptr);
// The same readers over CSV text in memory (the server's session requests);
// `source` names it in errors.
SessionLog parse_session_log(std::string_view text, const std::string& source, const ReadOptions& options = {},
                             ReadReport* report = nullptr);
TrackTable parse_track_features(std::string_view text, const std::string& source, const ReadOptions& options = {},
                                ReadReport* report = nullptr);
// The same over a header line and a body apart (csv::parse_csv's window form).
SessionLog parse_session_log(std::string_view header, std::string_view body, const std::string& source,
                             const ReadOptions& options = {}, ReadReport* report = nullptr);
TrackTable parse_track_features(std::string_view header, std::string_view body, const std::string& source,
                                const ReadOptions& options = {}, ReadReport* report = nullptr);

// Logs and tracks joined: track_row[i] is the row in `tracks` of log row i.
struct MssdData {
    SessionLog log;
    TrackTable tracks;
    Tensor track_row;  // i32 [log.rows]
};

// Joins on track_id_clean = track_id through a hash table of the track ids.
// An unknown track id is a DataError (log file, line, column track_id_clean,
// the id); under on_bad_row=skip those log rows are dropped and counted in
// report->rows_unknown_track.
MssdData join_tracks(SessionLog log, TrackTable tracks, const ReadOptions& options = {},
                     ReadReport* report = nullptr);
// The join once each distinct log track is looked up: row_of_code[c] is the
// row in `tracks` of the log's track code c, -1 when unknown (handled as
// join_tracks does). For a track table indexed elsewhere (TrackStore).
MssdData join_track_rows(SessionLog log, const std::vector<int32_t>& row_of_code, TrackTable tracks,
                         const ReadOptions& options = {}, ReadReport* report = nullptr);

// read_session_log + read_track_features + join_tracks, with one report.
MssdData load_mssd(const std::string& log_path, const std::string& tracks_path, const ReadOptions& options = {},
                   ReadReport* report = nullptr);

// Keeps the rows listed in `keep` (ascending); session codes and names stay.
void keep_log_rows(SessionLog& log, const std::vector<int64_t>& keep);

// Keeps the sessions whose keep[code] is non-zero (keep has one entry per
// session code) and renumbers the kept ones 0.. in code order.
void keep_sessions(SessionLog& log, const std::vector<uint8_t>& keep);

// Concatenation of tables read from several files. Sessions lie whole within
// one file, so `part`'s sessions are taken as new ones (the caller checks
// that; see SessionFiles in mssd_files.h); track ids and categories are
// merged by name. A track id listed in two track files is a DataError naming
// both. With same_sessions, part's session codes already index into's
// session_ids (the rest of the same sessions, as a test set's second halves).
void append_session_log(SessionLog& into, SessionLog part, bool same_sessions = false);
void append_track_table(TrackTable& into, TrackTable part);

// Writes the two tables in the raw MSSD format: header names and order as in
// the raw files, lowercase true/false, pauses and context_switch as 0/1, dates
// as YYYY-MM-DD, mode as major/minor.
void write_session_log_csv(const SessionLog& log, const std::string& path);
void write_track_features_csv(const TrackTable& tracks, const std::string& path);

// Calendar helpers for the `date` column.
int32_t days_from_civil(int year, int month, int day);
// 0 = Monday .. 6 = Sunday, as pandas' dayofweek.
int32_t day_of_week(int32_t days_since_epoch);

}  // namespace skipper::data
