#include "tools/data_source.h"

#include <algorithm>
#include <array>

#include "engine/collective.h"
#include "engine/error.h"
#include "trainer/data/generator.h"
#include "trainer/data/ingest.h"
#include "trainer/data/layout.h"
#include "trainer/data/mssd_files.h"
#include "trainer/data_parallel.h"

namespace skipper::tools {

data::MssdFiles resolve_files(const DataSource& source) {
    data::MssdFiles files;
    if (!source.data_dir.empty()) {
        if (!source.log_path.empty() || !source.tracks_path.empty())
            throw ParamError("data", "give either data=DIR or log=FILES tracks=FILES, not both");
        files = data::find_mssd_layout(source.data_dir);
    } else if (!source.log_path.empty() || !source.tracks_path.empty()) {
        if (source.log_path.empty() != source.tracks_path.empty())
            throw ParamError(source.log_path.empty() ? "log" : "tracks", "log=FILES and tracks=FILES go together");
        files.logs = data::expand_paths(source.log_path, "log");
        files.tracks = data::expand_paths(source.tracks_path, "tracks");
    } else if (!source.files.empty()) {
        throw ParamError("files", "selects among log files: name them with data=DIR or log=FILES");
    }
    files.logs = data::select_files(files.logs, source.files);
    return files;
}

LoadedData load_data(const DataSource& source, std::ostream& log) {
    LoadedData loaded;
    const data::MssdFiles files = resolve_files(source);
    if (files.logs.empty() && files.tracks.empty()) {
        data::GeneratorOptions options;
        options.sessions = source.sessions;
        options.seed = static_cast<uint64_t>(source.sample_seed);
        options.tracks = source.sample_num_tracks;
        loaded.mssd = data::generate_mssd(options);
        loaded.description = "generated sample: " + std::to_string(source.sessions) + " sessions, " +
                             std::to_string(loaded.mssd.log.rows) + " rows, seed " + std::to_string(source.sample_seed) +
                             (source.sample_num_tracks > 0 ? ", " + std::to_string(source.sample_num_tracks) + " tracks"
                                                           : std::string());
        return loaded;
    }
    if (files.logs.empty())
        throw DataError(source.data_dir, 0, "", "found no training log files (log*.csv); the folder holds a test set only");
    data::ReadOptions options;
    options.on_bad_row = data::parse_on_bad_row(source.on_bad_row);
    data::ReadReport report;
    loaded.mssd = data::load_mssd_files(files.logs, files.tracks, source.sample_sessions, options, &report);
    const auto names = [](const std::vector<std::string>& list) {
        return list.size() == 1 ? list.front() : std::to_string(list.size()) + " files (" + list.front() + ", ...)";
    };
    loaded.description = names(files.logs) + " + " + names(files.tracks) + ": " + std::to_string(loaded.mssd.log.rows) +
                         " rows, " + std::to_string(loaded.mssd.log.num_sessions()) + " sessions";
    if (report.rows_skipped > 0 || report.rows_unknown_track > 0) {
        log << "skipped " << report.rows_skipped << " malformed rows and " << report.rows_unknown_track
            << " rows with an unknown track (on_bad_row=skip)\n";
        for (const auto& problem : report.problems) log << "  " << problem << '\n';
    }
    return loaded;
}

LoadedData load_data_share(const DataSource& source, std::ostream& log) {
    const data::MssdFiles files = resolve_files(source);
    if (files.logs.empty()) throw ParamError("data", "reading a share of the data needs log files (data=DIR or log=FILES)");
    const InputShare share = input_share(files.logs);
    data::ReadOptions options;
    options.on_bad_row = data::parse_on_bad_row(source.on_bad_row);
    data::ReadReport report;
    LoadedData loaded;
    data::SessionFiles seen;
    data::HashIndex<uint32_t> file_of;  // this rank's sessions: the file among share.logs
    data::SessionLog log_rows;
    for (size_t f = 0; f < share.logs.size(); ++f) {
        const auto file = static_cast<uint64_t>(
            std::find(files.logs.begin(), files.logs.end(), share.logs[f]) - files.logs.begin());
        data::SessionLog part = data::read_session_log_sample(share.logs[f], source.sample_sessions, options, &report);
        std::vector<uint8_t> keep(part.session_ids.size(), 1);
        if (share.session_shards > 1) {
            for (size_t c = 0; c < keep.size(); ++c)
                keep[c] = in_session_shard(data::session_hash(part.session_ids[c]), share.session_shard,
                                           share.session_shards);
            const int64_t before = part.rows;
            data::keep_sessions(part, keep);
            report.rows_read -= before - part.rows;
        }
        for (size_t c = 0; c < keep.size(); ++c)
            if (keep[c] != 0) loaded.session_keys.push_back(file << 32 | c);
        seen.add(part);
        for (const auto& id : part.session_ids) file_of.try_emplace(data::session_hash(id), static_cast<uint32_t>(f));
        data::append_session_log(log_rows, std::move(part));
    }
    // After the reading, so that a rank's bad file ends the job with its own message.
    std::string names;
    for (const auto& path : files.logs) names += path + '\n';
    require_same_on_every_rank(data::session_hash(names), "list of log files");
    // With files k/n a session split between two ranks' files is seen by neither alone.
    if (share.session_shards == 1) require_sessions_in_one_file(file_of, share.logs, data::IngestOptions{}.window_bytes);
    // Each rank parses its share of the track table too, and the shares are exchanged.
    data::ReadReport track_report;
    const data::TrackStore tracks =
        track_store_over_ranks(files.tracks, options, &track_report, data::IngestOptions{}.window_bytes);
    report.rows_skipped += track_report.rows_skipped;
    for (auto& problem : track_report.problems)
        if (report.problems.size() < data::ReadReport::kMaxProblems) report.problems.push_back(std::move(problem));
    loaded.mssd = tracks.join(std::move(log_rows), options, &report);
    std::array<int64_t, 2> totals = {loaded.mssd.log.rows, loaded.mssd.log.num_sessions()};
    sum_counts(totals);
    loaded.description = std::to_string(files.logs.size()) + " log files: " + std::to_string(totals[0]) + " rows, " +
                         std::to_string(totals[1]) + " sessions; " + std::to_string(collective::size()) +
                         " ranks, each " +
                         (share.session_shards > 1 ? std::string("a share of the sessions of every file")
                                                   : std::string("its share of the files"));
    if (report.rows_skipped > 0 || report.rows_unknown_track > 0) {
        log << "skipped " << report.rows_skipped << " malformed rows and " << report.rows_unknown_track
            << " rows with an unknown track (on_bad_row=skip) on rank " << collective::rank() << '\n';
        for (const auto& problem : report.problems) log << "  " << problem << '\n';
    }
    return loaded;
}

}  // namespace skipper::tools
