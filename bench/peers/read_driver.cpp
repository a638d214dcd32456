// Skipper's side of the reader comparison (bench/peers/reader_vs_pandas.py).
//   read_driver gen DIR SESSIONS SEED        writes DIR/log_0.csv and DIR/tf_0.csv
//   read_driver read LOG TF REPEATS THREADS  times read + join (load_mssd)
//   read_driver generate SESSIONS REPEATS THREADS  times the in-memory generator
// Each prints one JSON object: per-repeat seconds, their median, the row count
// and the peak resident memory.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/error.h"
#include "trainer/data/generator.h"
#include "trainer/data/mssd.h"

namespace {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

long peak_rss_kb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

template <class Work> void time_runs(int repeats, Work work) {
    std::vector<double> seconds;
    int64_t rows = 0;
    for (int r = 0; r < repeats; ++r) {
        const auto start = std::chrono::steady_clock::now();
        rows = work();
        seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("{\"rows\": %lld, \"median_s\": %.6f, \"seconds\": [", static_cast<long long>(rows), median(seconds));
    for (size_t i = 0; i < seconds.size(); ++i) std::printf("%s%.6f", i ? ", " : "", seconds[i]);
    std::printf("], \"peak_rss_kb\": %ld}\n", peak_rss_kb());
}

int usage() {
    std::fprintf(stderr,
                 "usage: read_driver gen DIR SESSIONS SEED\n"
                 "       read_driver read LOG TF REPEATS THREADS\n"
                 "       read_driver generate SESSIONS REPEATS THREADS\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string command = argv[1];
    try {
        if (command == "gen" && argc == 5) {
            skipper::data::GeneratorOptions options;
            options.sessions = std::atoll(argv[3]);
            options.seed = std::strtoull(argv[4], nullptr, 10);
            const auto files = skipper::data::write_generated_mssd(options, argv[2]);
            std::printf("{\"rows\": %lld, \"sessions\": %lld, \"tracks\": %lld, \"log\": \"%s\", \"tracks_file\": \"%s\"}\n",
                        static_cast<long long>(files.rows), static_cast<long long>(files.sessions),
                        static_cast<long long>(files.tracks), files.log_path.c_str(), files.tracks_path.c_str());
        } else if (command == "read" && argc == 6) {
            const std::string log = argv[2], tf = argv[3];
            skipper::set_num_threads(std::atoi(argv[5]));
            time_runs(std::atoi(argv[4]), [&] { return skipper::data::load_mssd(log, tf).log.rows; });
        } else if (command == "generate" && argc == 5) {
            skipper::data::GeneratorOptions options;
            options.sessions = std::atoll(argv[2]);
            skipper::set_num_threads(std::atoi(argv[4]));
            time_runs(std::atoi(argv[3]), [&] { return skipper::data::generate_mssd(options).log.rows; });
        } else {
            return usage();
        }
    } catch (const skipper::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
