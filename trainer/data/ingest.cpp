#include "trainer/data/ingest.h"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/error.h"
#include "kernels/cpu/random.h"
#include "trainer/data/features.h"
#include "trainer/data/layout.h"
#include "trainer/data/mssd_files.h"

namespace skipper::data {

namespace {

using Clock = std::chrono::steady_clock;

bool is_test_session(uint64_t hash, const IngestOptions& options) {
    return held_out_session(hash, options.test_fraction, options.split_seed);
}

// Session rows per session code, from the log's lengths (rows of whole sessions).
std::vector<int32_t> session_lengths(const SessionLog& log) {
    std::vector<int32_t> length(log.session_ids.size(), 0);
    const auto* session = log.session.data<int32_t>();
    const auto* session_length = log.session_length.data<int32_t>();
    for (int64_t i = 0; i < log.rows; ++i) length[static_cast<size_t>(session[i])] = session_length[i];
    return length;
}

// The session rows of one file's log, joined with the track table, which is
// moved in for the join and handed back (it is shared by every file).
TabularDataset file_session_rows(SessionLog log, TrackTable& tracks, const IngestOptions& options,
                                 const std::function<void(const MssdData&)>& also = {}) {
    ReadReport report;
    MssdData data = join_tracks(std::move(log), std::move(tracks), options.read, &report);
    TabularDataset rows = build_session_rows(data);
    if (also) also(data);
    tracks = std::move(data.tracks);
    return rows;
}

gbdt::BinnedDataset allocate(const TabularDataset& schema, const std::vector<gbdt::FeatureBins>& bins, int64_t rows) {
    gbdt::BinnedDataset out;
    out.feature_names = schema.feature_names;
    out.categorical = schema.categorical;
    out.category_names = schema.category_names;
    out.feature_bins = bins;
    out.bins = Tensor::empty({rows, schema.num_features()}, DType::u8);
    out.labels = Tensor::empty({rows}, DType::f32);
    out.session_index.resize(static_cast<size_t>(rows));
    out.position.resize(static_cast<size_t>(rows));
    out.row_keys.resize(static_cast<size_t>(rows));
    return out;
}

}  // namespace

// The split salt: the sessions held out depend on split_seed and the id alone.
bool held_out_session(uint64_t hash, double test_fraction, uint64_t split_seed) {
    return unit_interval(hash, counter_hash(split_seed, 1)) < test_fraction;
}

SourceFile source_file(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) throw DataError(path, 0, "", std::string("cannot read the file: ") + std::strerror(errno));
    return {path, static_cast<int64_t>(info.st_size),
            static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + static_cast<int64_t>(info.st_mtim.tv_nsec)};
}

uint64_t BinSample::threshold() const {
    if (rows_ < target_rows_ || sessions_.empty()) return std::numeric_limits<uint64_t>::max();
    return sessions_.rbegin()->first.first;
}

void BinSample::add(uint64_t hash, const std::string& session_id, std::vector<float> rows, int64_t width) {
    if (width_ != 0 && width != width_) throw Error("BinSample: rows of " + std::to_string(width) + " features after " + std::to_string(width_));
    width_ = width;
    const auto count = static_cast<int64_t>(rows.size()) / width;
    if (!sessions_.try_emplace({hash, session_id}, std::move(rows)).second) return;
    rows_ += count;
    trim();
}

void BinSample::merge(const BinSample& other) {
    for (const auto& [key, rows] : other.sessions_) add(key.first, key.second, rows, other.width_);
}

void BinSample::trim() {
    // Drop the largest keys while the rest still reach the target.
    while (!sessions_.empty()) {
        const auto last = std::prev(sessions_.end());
        const auto count = static_cast<int64_t>(last->second.size()) / width_;
        if (rows_ - count < target_rows_) break;
        rows_ -= count;
        sessions_.erase(last);
    }
}

Tensor BinSample::matrix() const {
    Tensor out = Tensor::empty({rows_, width_}, DType::f32);
    float* x = out.data<float>();
    for (const auto& [key, rows] : sessions_) {
        std::memcpy(x, rows.data(), rows.size() * sizeof(float));
        x += rows.size();
    }
    return out;
}

std::vector<gbdt::FeatureBins> fit_session_row_bins(const BinSample& sample, const TabularDataset& schema,
                                                    int64_t max_bin) {
    return gbdt::fit_bins_on_sample(sample.matrix(), schema.feature_names, schema.categorical, max_bin);
}

uint64_t session_row_key(uint64_t session_hash, int32_t position) {
    return counter_hash(session_hash, static_cast<uint64_t>(position));
}

SessionRowIngest ingest_session_rows(const std::vector<std::string>& logs, const std::vector<std::string>& tracks,
                                     const IngestOptions& options) {
    const auto start = Clock::now();
    SessionRowIngest out;
    for (const auto& path : logs) {
        out.sources.push_back(source_file(path));
        out.disk_bytes += out.sources.back().bytes;
    }
    for (const auto& path : tracks) out.sources.push_back(source_file(path));
    TrackTable track_table = read_track_tables(tracks, options.read, nullptr);

    IngestProgress progress;
    progress.files_total = 2 * static_cast<int64_t>(logs.size());
    progress.bytes_total = 2 * out.disk_bytes;
    const auto report = [&](const char* phase, int64_t file, int64_t rows) {
        ++progress.files_done;
        progress.phase = phase;
        progress.bytes_done += out.sources[static_cast<size_t>(file)].bytes;
        progress.rows_done += rows;
        progress.seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (options.progress) options.progress(progress);
    };

    // Pass 1: the spanning check, the row counts and the bin sample.
    SessionFiles seen;
    BinSample sample(options.bin_construct_sample_cnt);
    TabularDataset schema;
    int64_t train_rows = 0, test_rows = 0;
    for (size_t f = 0; f < logs.size(); ++f) {
        SessionLog log = read_session_log_sample(logs[f], options.sample_sessions, options.read, nullptr);
        const int64_t rows_read = log.rows;
        out.log_rows += rows_read;
        seen.add(log);
        if (options.on_log) options.on_log(log);
        const auto length = session_lengths(log);
        const uint64_t threshold = sample.threshold();
        std::vector<uint8_t> candidate(log.session_ids.size(), 0);
        for (size_t s = 0; s < log.session_ids.size(); ++s) {
            const uint64_t hash = session_hash(log.session_ids[s]);
            const int64_t predicted = length[s] - history_length(length[s]);
            (is_test_session(hash, options) ? test_rows : train_rows) += predicted;
            candidate[s] = hash <= threshold;
        }
        out.sessions += static_cast<int64_t>(log.session_ids.size());
        keep_sessions(log, candidate);
        if (log.rows > 0) {
            const std::vector<std::string> ids = log.session_ids;
            TabularDataset rows = file_session_rows(std::move(log), track_table, options);
            const int64_t width = rows.num_features();
            const float* x = rows.features.data<float>();
            for (int64_t r = 0; r < rows.rows();) {
                const int32_t s = rows.session_index[static_cast<size_t>(r)];
                int64_t end = r;
                while (end < rows.rows() && rows.session_index[static_cast<size_t>(end)] == s) ++end;
                const std::string& id = ids[static_cast<size_t>(s)];
                sample.add(session_hash(id), id, std::vector<float>(x + r * width, x + end * width), width);
                r = end;
            }
            if (schema.feature_names.empty()) {
                schema.feature_names = rows.feature_names;
                schema.categorical = rows.categorical;
                schema.category_names = rows.category_names;
            }
        }
        report("sample", static_cast<int64_t>(f), rows_read);
    }
    if (sample.rows() == 0) throw DataError(logs.empty() ? "" : logs.front(), 0, "", "no sessions to train on");
    const auto feature_bins = fit_session_row_bins(sample, schema, options.max_bin);

    // Pass 2: every file's session rows, binned, into buffers of the final size.
    out.train = allocate(schema, feature_bins, train_rows);
    out.test = allocate(schema, feature_bins, test_rows);
    const int64_t width = schema.num_features();
    int64_t cursor[2] = {0, 0};
    int32_t sessions[2] = {0, 0};
    for (size_t f = 0; f < logs.size(); ++f) {
        SessionLog log = read_session_log_sample(logs[f], options.sample_sessions, options.read, nullptr);
        const int64_t rows_read = log.rows;
        std::vector<uint64_t> hashes(log.session_ids.size());
        for (size_t s = 0; s < hashes.size(); ++s) hashes[s] = session_hash(log.session_ids[s]);
        std::function<void(const MssdData&)> also;
        if (options.on_file)
            also = [&](const MssdData& data) {
                std::vector<uint8_t> held_out(hashes.size());
                for (size_t s = 0; s < hashes.size(); ++s) held_out[s] = is_test_session(hashes[s], options) ? 1 : 0;
                options.on_file(data, hashes, held_out);
            };
        const TabularDataset rows = file_session_rows(std::move(log), track_table, options, also);
        const Tensor bins = gbdt::bin_rows(rows.features, feature_bins);
        const uint8_t* b = bins.data<uint8_t>();
        const float* y = rows.labels.data<float>();
        int32_t last_session = -1, session_number = 0;
        int which = 0;
        for (int64_t r = 0; r < rows.rows(); ++r) {
            const int32_t s = rows.session_index[static_cast<size_t>(r)];
            const uint64_t hash = hashes[static_cast<size_t>(s)];
            if (s != last_session) {
                last_session = s;
                which = is_test_session(hash, options) ? 1 : 0;
                session_number = sessions[which]++;
            }
            gbdt::BinnedDataset& to = which == 1 ? out.test : out.train;
            const int64_t o = cursor[which]++;
            if (o >= to.rows())
                throw DataError(logs[f], 0, "", "the file changed while it was being read (more rows than in the first pass)");
            std::memcpy(to.bins.data<uint8_t>() + o * width, b + r * width, static_cast<size_t>(width));
            to.labels.data<float>()[o] = y[r];
            to.session_index[static_cast<size_t>(o)] = session_number;
            to.position[static_cast<size_t>(o)] = rows.position[static_cast<size_t>(r)];
            to.row_keys[static_cast<size_t>(o)] = session_row_key(hash, rows.position[static_cast<size_t>(r)]);
        }
        report("bin", static_cast<int64_t>(f), rows_read);
    }
    if (cursor[0] != out.train.rows() || cursor[1] != out.test.rows())
        throw DataError(logs.empty() ? "" : logs.back(), 0, "", "the files changed while they were being read (fewer rows than in the first pass)");
    out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
}

Tensor representative_rows(const gbdt::BinnedDataset& data, int64_t begin, int64_t end) {
    const int64_t width = data.num_features();
    // Per feature and bin, the float that lands in that bin.
    std::vector<std::vector<float>> value(static_cast<size_t>(width));
    for (int64_t f = 0; f < width; ++f) {
        const gbdt::FeatureBins& bins = data.feature_bins[static_cast<size_t>(f)];
        auto& v = value[static_cast<size_t>(f)];
        v.assign(static_cast<size_t>(bins.num_bins()), std::numeric_limits<float>::quiet_NaN());
        for (int32_t b = 0; b < bins.value_bins(); ++b) {
            if (bins.categorical) {
                v[static_cast<size_t>(b)] = static_cast<float>(bins.bin_category[static_cast<size_t>(b)]);
                continue;
            }
            // The bin's middle: bounds sit halfway between neighbouring values,
            // so for flags, counts and codes this is the value itself. The end
            // bins borrow the width of their finite neighbour (1 when none).
            const auto& ub = bins.upper_bounds;
            const auto n = static_cast<int32_t>(ub.size());
            const auto finite = [&](int32_t i) { return i >= 0 && i < n && std::isfinite(ub[static_cast<size_t>(i)]); };
            double middle;
            if (finite(b) && finite(b - 1)) middle = 0.5 * (ub[static_cast<size_t>(b)] + ub[static_cast<size_t>(b - 1)]);
            else if (finite(b)) middle = ub[static_cast<size_t>(b)] - 0.5 * (finite(b + 1) ? ub[static_cast<size_t>(b + 1)] - ub[static_cast<size_t>(b)] : 1.0);
            else if (finite(b - 1)) middle = ub[static_cast<size_t>(b - 1)] + 0.5 * (finite(b - 2) ? ub[static_cast<size_t>(b - 1)] - ub[static_cast<size_t>(b - 2)] : 1.0);
            else middle = 0.0;
            float x = static_cast<float>(middle);
            // It must fall in the bin as the model compares it (float against double bounds).
            if (bins.bin_of(x) != b) {
                const double bound = ub[static_cast<size_t>(b)];
                x = static_cast<float>(bound);
                if (static_cast<double>(x) > bound) x = std::nextafter(x, -std::numeric_limits<float>::infinity());
            }
            v[static_cast<size_t>(b)] = x;
        }
    }
    Tensor out = Tensor::empty({end - begin, width}, DType::f32);
    float* x = out.data<float>();
    const uint8_t* b = data.bins.data<uint8_t>();
#pragma omp parallel for schedule(static)
    for (int64_t r = begin; r < end; ++r)
        for (int64_t f = 0; f < width; ++f)
            x[(r - begin) * width + f] = value[static_cast<size_t>(f)][b[r * width + f]];
    return out;
}

}  // namespace skipper::data
