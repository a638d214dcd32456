// Helpers for the tools tests: a temporary folder that cleans up after itself,
// tiny models trained through the command line itself, and the skipper command
// run in-process with its output captured.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/cli.h"

namespace skipper::test {

class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter = 0;
        path_ = std::filesystem::temp_directory_path() /
                ("skipper_tools_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

struct CliResult {
    int code = -1;
    std::string out, err;
};

inline CliResult run_skipper(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    CliResult result;
    result.code = tools::run_cli(args, out, err);
    result.out = out.str();
    result.err = err.str();
    return result;
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Writes `from` gzipped as two members, as `gzip -c a b` does: a reader must
// take both.
inline void gzip_file(const std::string& from, const std::string& to) {
    const std::string text = read_text(from);
    const auto half = static_cast<unsigned>(text.size() / 2);
    const auto rest = static_cast<unsigned>(text.size() - half);
    gzFile out = gzopen(to.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    ASSERT_EQ(gzwrite(out, text.data(), half), static_cast<int>(half));
    gzclose(out);
    gzFile more = gzopen(to.c_str(), "ab");
    ASSERT_NE(more, nullptr);
    ASSERT_EQ(gzwrite(more, text.data() + half, rest), static_cast<int>(rest));
    gzclose(more);
}

// Trains a small model through `skipper train` and returns its path. `extra`
// adds parameters (task=session, learner parameters).
inline std::string train_tiny_model(const TempDir& dir, const std::string& name, const std::string& learner,
                                    const std::vector<std::string>& extra) {
    const std::string path = dir.file(name);
    std::vector<std::string> args = {"train", learner, "sessions=80", "output_model=" + path};
    if (learner == "gbdt") {
        args.push_back("num_iterations=20");
        args.push_back("min_data_in_leaf=5");
    } else {
        args.insert(args.end(), {"hidden_size=8", "epochs=1", "batch_size=64", "device=cpu"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    const CliResult result = run_skipper(args);
    EXPECT_EQ(result.code, 0) << result.err;
    return path;
}

}  // namespace skipper::test
