#include "tools/data_source.h"

#include <algorithm>
#include <filesystem>

#include "engine/error.h"
#include "trainer/data/generator.h"

namespace skipper::tools {

namespace fs = std::filesystem;

std::pair<std::string, std::string> find_mssd_files(const std::string& dir) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) throw DataError(dir, 0, "", "data= must name a folder holding the MSSD csv files");
    std::vector<std::string> logs, tracks;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".csv") continue;
        const std::string name = entry.path().filename().string();
        if (name.rfind("log", 0) == 0) logs.push_back(entry.path().string());
        else if (name.rfind("tf", 0) == 0 || name.rfind("track", 0) == 0) tracks.push_back(entry.path().string());
    }
    std::sort(logs.begin(), logs.end());
    std::sort(tracks.begin(), tracks.end());
    const auto describe = [](const std::vector<std::string>& files) {
        std::string list;
        for (const auto& f : files) list += (list.empty() ? "" : ", ") + f;
        return list.empty() ? std::string("none") : list;
    };
    if (logs.size() != 1 || tracks.size() != 1)
        throw DataError(dir, 0, "",
                        "expected one session-log file (log*.csv) and one track-features file (tf*.csv); found logs: " +
                            describe(logs) + "; track features: " + describe(tracks) +
                            " (name them with log=FILE tracks=FILE)");
    return {logs.front(), tracks.front()};
}

LoadedData load_data(const DataSource& source, std::ostream& log) {
    LoadedData loaded;
    std::string log_path = source.log_path, tracks_path = source.tracks_path;
    if (!source.data_dir.empty()) {
        if (!log_path.empty() || !tracks_path.empty())
            throw ParamError("data", "give either data=DIR or log=FILE tracks=FILE, not both");
        std::tie(log_path, tracks_path) = find_mssd_files(source.data_dir);
    }
    if (log_path.empty() != tracks_path.empty())
        throw ParamError(log_path.empty() ? "log" : "tracks", "log=FILE and tracks=FILE go together");
    if (log_path.empty()) {
        data::GeneratorOptions options;
        options.sessions = source.sessions;
        options.seed = static_cast<uint64_t>(source.sample_seed);
        loaded.mssd = data::generate_mssd(options);
        loaded.description = "generated sample: " + std::to_string(source.sessions) + " sessions, " +
                             std::to_string(loaded.mssd.log.rows) + " rows, seed " + std::to_string(source.sample_seed);
        return loaded;
    }
    data::ReadOptions options;
    options.on_bad_row = data::parse_on_bad_row(source.on_bad_row);
    data::ReadReport report;
    loaded.mssd = data::load_mssd(log_path, tracks_path, options, &report);
    loaded.description = log_path + " + " + tracks_path + ": " + std::to_string(loaded.mssd.log.rows) + " rows, " +
                         std::to_string(loaded.mssd.log.num_sessions()) + " sessions";
    if (report.rows_skipped > 0 || report.rows_unknown_track > 0) {
        log << "skipped " << report.rows_skipped << " malformed rows and " << report.rows_unknown_track
            << " rows with an unknown track (on_bad_row=skip)\n";
        for (const auto& problem : report.problems) log << "  " << problem << '\n';
    }
    return loaded;
}

}  // namespace skipper::tools
