#include "trainer/data/mssd_files.h"

#include "engine/error.h"
#include "trainer/data/layout.h"

namespace skipper::data {

void SessionFiles::add(const SessionLog& log) {
    const auto file = static_cast<uint32_t>(files_.size());
    files_.push_back(log.source);
    const auto* session = log.session.data<int32_t>();
    std::vector<int64_t> first_row(log.session_ids.size(), -1);
    for (int64_t i = log.rows - 1; i >= 0; --i) first_row[static_cast<size_t>(session[i])] = i;
    for (size_t s = 0; s < log.session_ids.size(); ++s) {
        const auto [first_file, added] = file_of_.try_emplace(session_hash(log.session_ids[s]), file);
        if (added || first_file == file) continue;
        const int64_t row = first_row[s];
        throw DataError(log.source, row >= 0 && !log.source_line.empty() ? log.source_line[static_cast<size_t>(row)] : 0,
                        "session_id",
                        "session '" + log.session_ids[s] + "' is also in " + files_[first_file] +
                            "; expected each session whole within one file (as in MSSD's files)");
    }
}

SessionLog read_session_log_sample(const std::string& path, double fraction, const ReadOptions& options,
                                   ReadReport* report) {
    SessionLog log = read_session_log(path, options, report);
    if (fraction >= 1.0) return log;
    std::vector<uint8_t> keep(log.session_ids.size());
    for (size_t s = 0; s < keep.size(); ++s) keep[s] = keep_sampled_session(session_hash(log.session_ids[s]), fraction);
    const int64_t before = log.rows;
    keep_sessions(log, keep);
    if (report != nullptr) report->rows_read -= before - log.rows;
    return log;
}

TrackTable read_track_tables(const std::vector<std::string>& paths, const ReadOptions& options, ReadReport* report) {
    TrackTable tracks;
    for (const auto& path : paths) append_track_table(tracks, read_track_features(path, options, report));
    return tracks;
}

MssdData load_mssd_files(const std::vector<std::string>& logs, const std::vector<std::string>& tracks,
                         double sample_sessions, const ReadOptions& options, ReadReport* report) {
    SessionFiles seen;
    SessionLog log;
    for (const auto& path : logs) {
        SessionLog part = read_session_log_sample(path, sample_sessions, options, report);
        seen.add(part);
        append_session_log(log, std::move(part));
    }
    ReadReport track_report;
    TrackTable table = read_track_tables(tracks, options, &track_report);
    if (report != nullptr) {
        report->rows_skipped += track_report.rows_skipped;
        for (auto& p : track_report.problems)
            if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(std::move(p));
    }
    return join_tracks(std::move(log), std::move(table), options, report);
}

}  // namespace skipper::data
