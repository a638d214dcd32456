#include "trainer/data/layout.h"

#include <glob.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "engine/error.h"
#include "kernels/cpu/random.h"
#include "trainer/data/text_codes.h"

namespace skipper::data {

namespace fs = std::filesystem;

namespace {

bool has_csv_extension(const std::string& name) {
    const auto ends_with = [&](std::string_view end) {
        return name.size() >= end.size() && name.compare(name.size() - end.size(), end.size(), end) == 0;
    };
    return ends_with(".csv") || ends_with(".csv.gz");
}

bool starts_with(const std::string& name, std::string_view start) { return name.rfind(start, 0) == 0; }

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> out;
    size_t begin = 0;
    while (begin <= text.size()) {
        const size_t end = std::min(text.find(',', begin), text.size());
        if (end > begin) out.push_back(text.substr(begin, end - begin));
        begin = end + 1;
    }
    return out;
}

int64_t parse_index(const std::string& text, const std::string& whole) {
    int64_t value = -1;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < 0 || text.empty())
        throw ParamError("files", "'" + whole + "' is not a list of file indices, ranges a-b or a shard k/n");
    return value;
}

}  // namespace

MssdFiles find_mssd_layout(const std::string& dir) {
    std::error_code error;
    if (!fs::is_directory(dir, error)) throw DataError(dir, 0, "", "data= must name a folder holding the MSSD csv files");
    MssdFiles files;
    std::vector<std::string> other;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink);
         it != fs::recursive_directory_iterator(); ++it) {
        if (!it->is_regular_file()) continue;
        const std::string name = it->path().filename().string();
        const std::string path = it->path().string();
        if (!has_csv_extension(name)) continue;
        if (starts_with(name, "log_prehistory")) files.prehistory.push_back(path);
        else if (starts_with(name, "log_input")) files.inputs.push_back(path);
        else if (starts_with(name, "log")) files.logs.push_back(path);
        else if (starts_with(name, "tf") || starts_with(name, "track")) files.tracks.push_back(path);
        else other.push_back(name);
    }
    for (auto* list : {&files.logs, &files.tracks, &files.prehistory, &files.inputs}) std::sort(list->begin(), list->end());
    if ((files.logs.empty() && files.prehistory.empty()) || files.tracks.empty()) {
        std::string found;
        for (const auto& name : other) found += (found.empty() ? "" : ", ") + name;
        throw DataError(dir, 0, "",
                        std::string("found no ") + (files.tracks.empty() ? "track-features file (tf*.csv)" : "session-log file (log*.csv)") +
                            " in the folder or below it (other csv files: " + (found.empty() ? "none" : found) +
                            "); name the files with log=FILES tracks=FILES");
    }
    return files;
}

std::vector<std::string> expand_paths(const std::string& spec, const std::string& param) {
    std::vector<std::string> out;
    for (const auto& item : split_commas(spec)) {
        if (item.find_first_of("*?[") == std::string::npos) {
            std::error_code error;
            if (!fs::is_regular_file(item, error)) throw ParamError(param, "no such file: '" + item + "'");
            out.push_back(item);
            continue;
        }
        glob_t found{};
        const int status = ::glob(item.c_str(), 0, nullptr, &found);
        std::vector<std::string> matches(found.gl_pathv, found.gl_pathv + (status == 0 ? found.gl_pathc : 0));
        ::globfree(&found);
        if (matches.empty()) throw ParamError(param, "the pattern '" + item + "' matches no file");
        std::sort(matches.begin(), matches.end());
        out.insert(out.end(), matches.begin(), matches.end());
    }
    if (out.empty()) throw ParamError(param, "names no file");
    return out;
}

std::vector<std::string> select_files(const std::vector<std::string>& files, const std::string& selection) {
    if (selection.empty()) return files;
    const auto count = static_cast<int64_t>(files.size());
    std::vector<bool> chosen(files.size(), false);
    const auto choose = [&](int64_t i) {
        if (i >= count)
            throw ParamError("files", "index " + std::to_string(i) + " is past the last of the " + std::to_string(count) +
                                          " log files (indices start at 0)");
        chosen[static_cast<size_t>(i)] = true;
    };
    for (const auto& item : split_commas(selection)) {
        if (const size_t slash = item.find('/'); slash != std::string::npos) {
            const int64_t k = parse_index(item.substr(0, slash), selection);
            const int64_t n = parse_index(item.substr(slash + 1), selection);
            if (n == 0 || k >= n) throw ParamError("files", "shard '" + item + "' needs k < n");
            for (int64_t i = k; i < count; i += n) chosen[static_cast<size_t>(i)] = true;
        } else if (const size_t dash = item.find('-'); dash != std::string::npos) {
            const int64_t a = parse_index(item.substr(0, dash), selection);
            const int64_t b = parse_index(item.substr(dash + 1), selection);
            if (b < a) throw ParamError("files", "range '" + item + "' runs backwards");
            for (int64_t i = a; i <= b; ++i) choose(i);
        } else {
            choose(parse_index(item, selection));
        }
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < files.size(); ++i)
        if (chosen[i]) out.push_back(files[i]);
    if (out.empty()) throw ParamError("files", "'" + selection + "' selects none of the " + std::to_string(count) + " log files");
    return out;
}

uint64_t session_hash(std::string_view session_id) { return TextCodes::hash(session_id); }

double unit_interval(uint64_t hash, uint64_t salt) { return counter_uniform(salt, hash); }

}  // namespace skipper::data
