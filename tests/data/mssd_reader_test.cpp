// The MSSD readers and the join: the real-format fixture, every malformed
// input kind with its message, the accepted encodings, and thread-count
// independence.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <string>

#include "engine/error.h"
#include "trainer/data/mssd.h"
#include "tests/test_util.h"

namespace skipper::data {
namespace {

const std::string kPartial =
    std::string(SKIPPER_SHARED_DATA_DIR) + "/mssd/partial/mssd_testset_prehistory_fragment_169sessions.csv";

const std::string kLogHeader =
    "session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,context_switch,"
    "no_pause_before_play,short_pause_before_play,long_pause_before_play,hist_user_behavior_n_seekfwd,"
    "hist_user_behavior_n_seekback,hist_user_behavior_is_shuffle,hour_of_day,date,premium,context_type,"
    "hist_user_behavior_reason_start,hist_user_behavior_reason_end";
const std::string kRow1 =
    "s_1,1,2,t_a,false,false,false,true,0,1,0,0,0,0,true,16,2018-07-15,true,editorial_playlist,trackdone,trackdone";
const std::string kRow2 =
    "s_1,2,2,t_b,true,true,true,false,0,1,0,0,2,1,true,16,2018-07-15,true,editorial_playlist,trackdone,fwdbtn";

const std::string kTrackHeader =
    "track_id,duration,release_year,us_popularity_estimate,acousticness,beat_strength,bounciness,danceability,"
    "dyn_range_mean,energy,flatness,instrumentalness,key,liveness,loudness,mechanism,mode,organism,speechiness,"
    "tempo,time_signature,valence,acoustic_vector_0,acoustic_vector_1,acoustic_vector_2,acoustic_vector_3,"
    "acoustic_vector_4,acoustic_vector_5,acoustic_vector_6,acoustic_vector_7";
const std::string kTrackA =
    "t_a,180.5,2015,99.2,0.1,0.5,0.5,0.6,8.1,0.7,1.0,0.0,5,0.1,-6.5,0.4,major,0.2,0.05,120.0,4,0.6,"
    "0.1,-0.2,0.3,-0.4,0.5,-0.6,0.7,-0.8";
const std::string kTrackB =
    "t_b,200,1999,97.5,0.9,0.4,0.3,0.5,7.0,0.3,0.9,0.8,0,0.2,-12,0.6,minor,0.5,0.04,90.5,3,0.2,"
    "0,0,0,0,0,0,0,0";

std::string write_file(const std::string& name, const std::string& text) {
    const std::string path = test::scratch_path(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

// Reading `text` as a session log throws a DataError whose message holds every piece of `want`.
void expect_log_error(const std::string& name, const std::string& text, int64_t line, const std::string& column,
                      const std::vector<std::string>& want) {
    const std::string path = write_file(name, text);
    try {
        read_session_log(path);
        ADD_FAILURE() << name << ": no error";
    } catch (const DataError& e) {
        const std::string message = e.what();
        EXPECT_EQ(e.file(), path) << message;
        EXPECT_EQ(e.line(), line) << message;
        EXPECT_EQ(e.column(), column) << message;
        for (const auto& piece : want) EXPECT_NE(message.find(piece), std::string::npos) << message << "\nlacks: " << piece;
    }
}

TEST(SessionLogReader, RealFragmentHasKnownCounts) {
    const SessionLog log = read_session_log(kPartial);
    EXPECT_EQ(log.rows, 1180);
    EXPECT_EQ(log.num_sessions(), 169);
    EXPECT_EQ(log.track_ids.size(), 917u);
    const auto skip_2 = log.skip_2.to_vector<uint8_t>();
    double skipped = 0;
    for (uint8_t v : skip_2) skipped += v;
    EXPECT_NEAR(skipped / 1180.0, 0.491, 0.0005);
    // First row: 1_00002aa7-..., position 2 of 13, radio, trackdone/trackdone, 2018-07-16 (a Monday).
    EXPECT_EQ(log.session_ids[0], "1_00002aa7-c6a1-4667-85c9-e873b4ef9ecc");
    EXPECT_EQ(log.session_position.to_vector<int32_t>()[0], 2);
    EXPECT_EQ(log.session_length.to_vector<int32_t>()[0], 13);
    EXPECT_EQ(log.context_type_names[log.context_type.to_vector<int32_t>()[0]], "radio");
    EXPECT_EQ(log.reason_end_names[log.hist_user_behavior_reason_end.to_vector<int32_t>()[0]], "trackdone");
    EXPECT_EQ(log.date.to_vector<int32_t>()[0], days_from_civil(2018, 7, 16));
    EXPECT_EQ(day_of_week(log.date.to_vector<int32_t>()[0]), 0);
    EXPECT_EQ(log.source_line[0], 2);
    EXPECT_EQ(log.source_line[1179], 1181);
    // The documented value sets keep their codes; the fragment brings no new value.
    EXPECT_EQ(log.context_type_names, context_type_values());
    EXPECT_EQ(log.reason_start_names, reason_start_values());
    EXPECT_EQ(log.reason_end_names, reason_end_values());
}

TEST(SessionLogReader, SameResultOnOneThreadAndMany) {
    ReadOptions one;
    one.num_threads = 1;
    ReadOptions two;
    two.num_threads = 2;
    const SessionLog a = read_session_log(kPartial, one);
    const SessionLog b = read_session_log(kPartial, two);
    EXPECT_EQ(a.session_ids, b.session_ids);
    EXPECT_EQ(a.track_ids, b.track_ids);
    EXPECT_EQ(a.track.to_vector<int32_t>(), b.track.to_vector<int32_t>());
    EXPECT_EQ(a.skip_2.to_vector<uint8_t>(), b.skip_2.to_vector<uint8_t>());
}

TEST(SessionLogReader, AcceptsAnyColumnOrderBomCrlfQuotesAndBooleanSpellings) {
    // Reversed columns, an extra column, a BOM, CRLF, quoted fields (one with an
    // escaped quote and a comma), True/False and 0/1 booleans.
    std::string text = "\xEF\xBB\xBF" "extra,hist_user_behavior_reason_end,hist_user_behavior_reason_start,context_type,premium,"
                       "date,hour_of_day,hist_user_behavior_is_shuffle,hist_user_behavior_n_seekback,"
                       "hist_user_behavior_n_seekfwd,long_pause_before_play,short_pause_before_play,"
                       "no_pause_before_play,context_switch,not_skipped,skip_3,skip_2,skip_1,track_id_clean,"
                       "session_length,session_position,\"session_id\"\r\n";
    text += "\"x, \"\"quoted\"\"\",trackdone,clickrow,radio,True,2018-07-15,23,False,0,3,0,0,1,0,1,0,0,0,t_a,2,1,s_1\r\n";
    text += "y,fwdbtn,trackdone,\"radio\",1,2018-07-15,23,0,1,0,0,1,0,1,0,True,true,True,\"t_b\",2,2,s_1\r\n";
    const SessionLog log = read_session_log(write_file("order.csv", text));
    ASSERT_EQ(log.rows, 2);
    EXPECT_EQ(log.session_ids, std::vector<std::string>{"s_1"});
    EXPECT_EQ(log.track_ids, (std::vector<std::string>{"t_a", "t_b"}));
    EXPECT_EQ(log.skip_2.to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1}));
    EXPECT_EQ(log.not_skipped.to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0}));
    EXPECT_EQ(log.premium.to_vector<uint8_t>(), (std::vector<uint8_t>{1, 1}));
    EXPECT_EQ(log.hist_user_behavior_n_seekfwd.to_vector<int32_t>(), (std::vector<int32_t>{3, 0}));
    EXPECT_EQ(log.hour_of_day.to_vector<int32_t>(), (std::vector<int32_t>{23, 23}));
    EXPECT_EQ(log.source_line, (std::vector<int64_t>{2, 3}));
}

TEST(SessionLogReader, QuotedNewlineKeepsLineNumbers) {
    const std::string text = kLogHeader + "\n" + kRow1 + "\n" +
                             "\"s\n1\",2,2,t_b,true,true,true,false,0,1,0,0,0,0,true,16,2018-07-15,true,radio,fwdbtn,fwdbtn\n" +
                             "s_1,2,2,t_b,maybe,true,true,false,0,1,0,0,0,0,true,16,2018-07-15,true,radio,fwdbtn,fwdbtn\n";
    expect_log_error("quoted_newline.csv", text, 5, "skip_1", {"'maybe'"});
}

TEST(SessionLogReader, TruncatedLineNamesTheMissingColumn) {
    const std::string text = kLogHeader + "\n" + kRow1 + "\n" + "s_1,2,2,t_b,true,true,true,false,0,1\n";
    expect_log_error("truncated.csv", text, 3, "short_pause_before_play",
                     {"truncated.csv:3", "10 of 21 fields", "truncated", "expected a value for 'short_pause_before_play'"});
}

TEST(SessionLogReader, TextInNumericFieldSaysWhatWasExpected) {
    const std::string text = kLogHeader + "\n" + kRow1 + "\n" +
                             "s_1,two,2,t_b,true,true,true,false,0,1,0,0,0,0,true,16,2018-07-15,true,radio,fwdbtn,fwdbtn\n";
    expect_log_error("text_in_number.csv", text, 3, "session_position",
                     {"text_in_number.csv:3", "found 'two'", "field 2", "expected an integer"});
}

TEST(SessionLogReader, OutOfRangeHourIsMalformed) {
    const std::string text = kLogHeader + "\n" +
                             "s_1,1,2,t_a,false,false,false,true,0,1,0,0,0,0,true,24,2018-07-15,true,radio,fwdbtn,fwdbtn\n";
    expect_log_error("hour.csv", text, 2, "hour_of_day", {"found '24'", "expected an integer in [0, 23]"});
}

TEST(SessionLogReader, UnknownBooleanSaysWhatWasExpected) {
    const std::string text = kLogHeader + "\n" + kRow1 + "\n" + kRow1 + "\n" +
                             "s_1,2,2,t_b,true,yes,true,false,0,1,0,0,0,0,true,16,2018-07-15,true,radio,fwdbtn,fwdbtn\n";
    expect_log_error("bad_bool.csv", text, 4, "skip_2",
                     {"bad_bool.csv:4", "found 'yes'", "field 6", "expected a boolean (true/false, True/False or 0/1)"});
}

TEST(SessionLogReader, BadDateSaysWhatWasExpected) {
    const std::string text = kLogHeader + "\n" +
                             "s_1,1,2,t_a,false,false,false,true,0,1,0,0,0,0,true,16,2018-02-30,true,radio,fwdbtn,fwdbtn\n";
    expect_log_error("bad_date.csv", text, 2, "date", {"found '2018-02-30'", "expected a date YYYY-MM-DD"});
}

TEST(SessionLogReader, MissingColumnIsNamed) {
    std::string header = kLogHeader;
    header.replace(header.find(",premium"), 8, "");
    expect_log_error("missing_column.csv", header + "\n", 1, "premium",
                     {"missing_column.csv:1", "missing required column 'premium'", "the header has: session_id"});
}

TEST(SessionLogReader, EmptyFileIsAnError) {
    expect_log_error("empty.csv", "", 0, "", {"empty.csv", "the file is empty", "expected a header", "session_id"});
}

TEST(SessionLogReader, HeaderOnlyIsAnError) {
    expect_log_error("header_only.csv", kLogHeader + "\r\n", 2, "", {"header_only.csv:2", "header but no data rows"});
}

TEST(SessionLogReader, ExtraFieldIsAnError) {
    expect_log_error("extra_field.csv", kLogHeader + "\n" + kRow1 + ",surplus\n", 2, "",
                     {"extra_field.csv:2", "found 22 fields, expected 21"});
}

TEST(SessionLogReader, PositionPastLengthIsAnError) {
    const std::string text = kLogHeader + "\n" +
                             "s_1,3,2,t_a,false,false,false,true,0,1,0,0,0,0,true,16,2018-07-15,true,radio,fwdbtn,fwdbtn\n";
    expect_log_error("position.csv", text, 2, "session_position", {"found '3'", "session_length = 2"});
}

TEST(SessionLogReader, SkipModeDropsAndCountsBadRows) {
    const std::string text = kLogHeader + "\n" + kRow1 + "\n" +
                             "s_1,2,2,t_b,true,yes,true,false,0,1,0,0,0,0,true,16,2018-07-15,true,radio,fwdbtn,fwdbtn\n" +
                             "s_1,2,2,t_b,true,true\n" + kRow2 + "\n\n";
    ReadOptions options;
    options.on_bad_row = OnBadRow::skip;
    ReadReport report;
    const SessionLog log = read_session_log(write_file("skip.csv", text), options, &report);
    EXPECT_EQ(log.rows, 2);
    EXPECT_EQ(report.rows_read, 2);
    EXPECT_EQ(report.rows_skipped, 2);
    ASSERT_EQ(report.problems.size(), 2u);
    EXPECT_NE(report.problems[0].find("skip.csv:3"), std::string::npos) << report.problems[0];
    EXPECT_NE(report.problems[1].find("skip.csv:4"), std::string::npos) << report.problems[1];
    EXPECT_EQ(log.track_ids, (std::vector<std::string>{"t_a", "t_b"}));
    EXPECT_EQ(log.source_line, (std::vector<int64_t>{2, 5}));
    EXPECT_EQ(parse_on_bad_row("skip"), OnBadRow::skip);
    EXPECT_THROW(parse_on_bad_row("ignore"), ParamError);
}

TEST(TrackFeatureReader, ReadsEveryColumnAndMode) {
    const TrackTable tracks = read_track_features(write_file("tf.csv", kTrackHeader + "\n" + kTrackA + "\n" + kTrackB + "\n"));
    ASSERT_EQ(tracks.rows(), 2);
    const auto columns = static_cast<int64_t>(track_feature_columns().size());
    ASSERT_EQ(tracks.values.size(1), columns);
    const auto values = tracks.values.to_vector<float>();
    EXPECT_FLOAT_EQ(values[0], 180.5f);     // duration
    EXPECT_FLOAT_EQ(values[1], 2015.0f);    // release_year
    EXPECT_FLOAT_EQ(values[15], 1.0f);      // mode major
    EXPECT_FLOAT_EQ(values[columns + 15], 0.0f);  // mode minor
    EXPECT_FLOAT_EQ(values[columns - 1], -0.8f);  // acoustic_vector_7
}

TEST(TrackFeatureReader, UnknownModeAndDuplicateIdAreErrors) {
    std::string bad_mode = kTrackA;
    bad_mode.replace(bad_mode.find("major"), 5, "dorian");
    try {
        read_track_features(write_file("tf_mode.csv", kTrackHeader + "\n" + bad_mode + "\n"));
        ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
        EXPECT_EQ(e.line(), 2);
        EXPECT_EQ(e.column(), "mode");
        EXPECT_NE(std::string(e.what()).find("found 'dorian' in field 17, expected one of minor, major"), std::string::npos)
            << e.what();
    }
    try {
        read_track_features(write_file("tf_dup.csv", kTrackHeader + "\n" + kTrackA + "\n" + kTrackA + "\n"));
        ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
        EXPECT_EQ(e.line(), 3);
        EXPECT_NE(std::string(e.what()).find("found 't_a' again"), std::string::npos) << e.what();
    }
}

TEST(Join, MapsEveryRowToItsTrack) {
    const std::string log_path = write_file("join_log.csv", kLogHeader + "\n" + kRow1 + "\n" + kRow2 + "\n");
    // Tracks in the other order than the log's first appearance.
    const std::string tf_path = write_file("join_tf.csv", kTrackHeader + "\n" + kTrackB + "\n" + kTrackA + "\n");
    const MssdData data = load_mssd(log_path, tf_path);
    EXPECT_EQ(data.track_row.to_vector<int32_t>(), (std::vector<int32_t>{1, 0}));
}

TEST(Join, UnknownTrackIdIsAnErrorOrSkipped) {
    const std::string log_path = write_file("join_unknown_log.csv", kLogHeader + "\n" + kRow1 + "\n" + kRow2 + "\n");
    const std::string tf_path = write_file("join_unknown_tf.csv", kTrackHeader + "\n" + kTrackA + "\n");
    try {
        load_mssd(log_path, tf_path);
        ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
        EXPECT_EQ(e.file(), log_path);
        EXPECT_EQ(e.line(), 3);
        EXPECT_EQ(e.column(), "track_id_clean");
        EXPECT_NE(std::string(e.what()).find("found unknown track id 't_b', expected a track_id listed in " + tf_path),
                  std::string::npos)
            << e.what();
    }
    ReadOptions options;
    options.on_bad_row = OnBadRow::skip;
    ReadReport report;
    const MssdData data = load_mssd(log_path, tf_path, options, &report);
    EXPECT_EQ(data.log.rows, 1);
    EXPECT_EQ(report.rows_read, 1);
    EXPECT_EQ(report.rows_unknown_track, 1);
    EXPECT_EQ(data.track_row.to_vector<int32_t>(), std::vector<int32_t>{0});
}

TEST(Writer, RoundTripsThroughTheReader) {
    const std::string log_path = write_file("rt_in.csv", kLogHeader + "\n" + kRow1 + "\n" + kRow2 + "\n");
    const std::string tf_path = write_file("rt_tf_in.csv", kTrackHeader + "\n" + kTrackA + "\n" + kTrackB + "\n");
    const MssdData data = load_mssd(log_path, tf_path);
    const std::string log_out = test::scratch_path("rt_out.csv");
    const std::string tf_out = test::scratch_path("rt_tf_out.csv");
    write_session_log_csv(data.log, log_out);
    write_track_features_csv(data.tracks, tf_out);
    std::ifstream in(log_out);
    std::string header, first;
    std::getline(in, header);
    std::getline(in, first);
    EXPECT_EQ(header, kLogHeader);
    EXPECT_EQ(first, kRow1);
    const MssdData again = load_mssd(log_out, tf_out);
    EXPECT_EQ(again.log.skip_2.to_vector<uint8_t>(), data.log.skip_2.to_vector<uint8_t>());
    EXPECT_EQ(again.tracks.values.to_vector<float>(), data.tracks.values.to_vector<float>());
    EXPECT_EQ(again.log.date.to_vector<int32_t>(), data.log.date.to_vector<int32_t>());
}

}  // namespace
}  // namespace skipper::data
