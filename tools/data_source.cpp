#include "tools/data_source.h"

#include "engine/error.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd_files.h"

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

}  // namespace skipper::tools
