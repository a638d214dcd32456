#include "trainer/data/ingest.h"

#include <omp.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <algorithm>

#include "engine/allocator.h"
#include "engine/collective.h"
#include "engine/error.h"
#include "kernels/cpu/random.h"
#include "trainer/data/features.h"
#include "trainer/data/file_text.h"
#include "trainer/data/hash_index.h"
#include "trainer/data/layout.h"
#include "trainer/data/mssd_files.h"
#include "trainer/data/csv_windows.h"
#include "trainer/data/ordered_jobs.h"
#include "trainer/data/session_scan.h"
#include "trainer/data/text_scan.h"
#include "trainer/data/track_store.h"
#include "trainer/data_parallel.h"

namespace skipper::data {

namespace {

using Clock = std::chrono::steady_clock;

bool is_test_session(uint64_t hash, const IngestOptions& options) {
    return held_out_session(hash, options.test_fraction, options.split_seed);
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

DataError spanning_session_error(const std::string& path, int64_t line, const std::string& session_id,
                                 const std::string& other_path) {
    return DataError(path, line, "session_id",
                     "session '" + session_id + "' is also in " + other_path +
                         "; expected each session whole within one file (as in MSSD's files)");
}

uint64_t session_row_key(uint64_t session_hash, int32_t position) {
    return counter_hash(session_hash, static_cast<uint64_t>(position));
}

namespace {

// The sessions chosen for the bin sample while the files are scanned: as
// BinSample, the smallest (hash, id) until they hold target rows, but only
// where each one's lines lie, not its rows.
class SampleChoice {
public:
    struct Chosen {
        size_t file;
        ScannedSession session;
    };
    explicit SampleChoice(int64_t target_rows) : target_rows_(target_rows) {}
    uint64_t threshold() const {
        if (rows_ < target_rows_ || chosen_.empty()) return std::numeric_limits<uint64_t>::max();
        return chosen_.rbegin()->first.first;
    }
    void add(uint64_t hash, const std::string& id, int64_t rows, Chosen chosen) {
        if (!chosen_.try_emplace({hash, id}, std::pair{rows, chosen}).second) return;
        rows_ += rows;
        // Drop the largest keys while the rest still reach the target.
        while (!chosen_.empty()) {
            const auto last = std::prev(chosen_.end());
            if (rows_ - last->second.first < target_rows_) break;
            rows_ -= last->second.first;
            chosen_.erase(last);
        }
    }
    // Per file, its chosen sessions in file order.
    std::vector<std::vector<ScannedSession>> by_file(size_t files) const {
        std::vector<std::vector<ScannedSession>> out(files);
        for (const auto& [key, value] : chosen_) out[value.second.file].push_back(value.second.session);
        for (auto& sessions : out)
            std::sort(sessions.begin(), sessions.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
        return out;
    }

private:
    int64_t target_rows_;
    int64_t rows_ = 0;
    std::map<std::pair<uint64_t, std::string>, std::pair<int64_t, Chosen>> chosen_;
};

// Predicted rows of a session of `rows` positions (its second half).
int64_t predicted_rows(int64_t rows) { return rows - history_length(static_cast<int32_t>(rows)); }

// A whole log file, sampled, keeping only `keep`'s sessions when given (by hash).
SessionLog whole_file(const std::string& path, const IngestOptions& options, const std::vector<ScannedSession>* keep) {
    SessionLog log = read_session_log_sample(path, options.sample_sessions, options.read, nullptr);
    if (keep == nullptr) return log;
    std::vector<uint64_t> hashes;
    for (const auto& session : *keep) hashes.push_back(session.hash);
    std::sort(hashes.begin(), hashes.end());
    std::vector<uint8_t> chosen(log.session_ids.size());
    for (size_t s = 0; s < chosen.size(); ++s)
        chosen[s] = std::binary_search(hashes.begin(), hashes.end(), session_hash(log.session_ids[s]));
    keep_sessions(log, chosen);
    return log;
}

// The chosen sessions of one contiguous file, read from their byte ranges
// alone and parsed as one small CSV text. Lines are mapped back to the file's
// so that errors name them; a row the parser would refuse sends the file to
// the whole-file path, which reports it as the full read does.
SessionLog chosen_sessions(const std::string& path, const std::vector<ScannedSession>& sessions, const IngestOptions& options) {
    CsvWindows file(path, options.window_bytes);
    std::string text(file.header());
    // Reserved at once: grown by doubling, every step faulted in fresh pages for a copy.
    size_t bytes = text.size();
    for (const auto& session : sessions) bytes += static_cast<size_t>(session.end - session.begin) + 1;
    text.reserve(bytes);
    const int64_t header_lines = std::count(text.begin(), text.end(), '\n');
    std::vector<std::pair<int64_t, int64_t>> line_map;  // (first line in `text`, its line in the file)
    int64_t line = header_lines + 1;
    for (const auto& session : sessions) {
        std::string lines = file.read_range(session.begin, session.end - session.begin);
        if (!lines.empty() && lines.back() != '\n') lines += '\n';
        line_map.emplace_back(line, session.first_line);
        line += count_newlines(lines.data(), lines.data() + lines.size());
        text += lines;
    }
    ReadOptions lenient = options.read;
    lenient.on_bad_row = OnBadRow::skip;
    ReadReport report;
    SessionLog log = parse_session_log(text, path, lenient, &report);
    if (report.rows_skipped > 0) return whole_file(path, options, &sessions);
    for (auto& l : log.source_line) {
        const auto it = std::upper_bound(line_map.begin(), line_map.end(), std::pair{l, std::numeric_limits<int64_t>::max()}) - 1;
        l = it->second + (l - it->first);
    }
    return log;
}

// Whether a session (by hash) is one of this rank's, when the ranks share
// the files by session (input_share in trainer/data_parallel.h).
bool in_my_shard(uint64_t hash, const IngestOptions& options) {
    return options.session_shards == 1 || in_session_shard(hash, options.session_shard, options.session_shards);
}

// Keeps the sessions sample_sessions= keeps and this rank's (by hash).
void keep_sample(SessionLog& log, const IngestOptions& options) {
    if (options.sample_sessions >= 1.0 && options.session_shards == 1) return;
    std::vector<uint8_t> keep(log.session_ids.size());
    for (size_t s = 0; s < keep.size(); ++s) {
        const uint64_t hash = session_hash(log.session_ids[s]);
        keep[s] = keep_sampled_session(hash, options.sample_sessions) && in_my_shard(hash, options);
    }
    keep_sessions(log, keep);
}

}  // namespace

SessionRowIngest ingest_session_rows(const std::vector<std::string>& logs, const std::vector<std::string>& tracks,
                                     const IngestOptions& options) {
    const auto start = Clock::now();
    const auto since_start = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
    SessionRowIngest out;
    for (const auto& path : logs) {
        out.sources.push_back(source_file(path));
        out.disk_bytes += out.sources.back().bytes;
    }
    for (const auto& path : tracks) out.sources.push_back(source_file(path));

    IngestProgress progress;
    progress.files_total = 2 * static_cast<int64_t>(logs.size());
    progress.bytes_total = 2 * out.disk_bytes;
    const auto report = [&](const char* phase, size_t file, int64_t rows) {
        ++progress.files_done;
        progress.phase = phase;
        progress.bytes_done += out.sources[file].bytes;
        progress.rows_done += rows;
        progress.seconds = since_start();
        if (options.progress) options.progress(progress);
    };

    // Pass 1: the session-id column: the spanning check, the row counts and the bin sample's sessions.
    HashIndex<uint32_t> file_of;  // session hash -> file
    SampleChoice choice(options.bin_construct_sample_cnt);
    std::vector<uint8_t> contiguous(logs.size());
    // Plain files without quotes: pass 2 reads them through unchecked windows, numbering lines from the marks.
    std::vector<std::optional<std::vector<LineMark>>> line_marks(logs.size());
    int64_t train_rows = 0, test_rows = 0;
    for (size_t f = 0; f < logs.size(); ++f) {
        FileScan scan = scan_session_file(logs[f], options.sample_sessions, choice.threshold(), options.window_bytes,
                                          options.read.num_threads);
        contiguous[f] = scan.contiguous;
        if (!scan.quoted && !is_gzip_path(logs[f])) line_marks[f] = std::move(scan.line_marks);
        int64_t rows = 0, sessions = 0;
        for (size_t s = 0; s < scan.sessions.size(); ++s) {
            const ScannedSession& session = scan.sessions[s];
            if (!in_my_shard(session.hash, options)) continue;
            const auto [first_file, added] = file_of.try_emplace(session.hash, static_cast<uint32_t>(f));
            if (!added)
                throw spanning_session_error(logs[f], session.first_line, session_id_at(logs[f], session.begin), logs[first_file]);
            const int64_t predicted = predicted_rows(session.rows);
            (is_test_session(session.hash, options) ? test_rows : train_rows) += predicted;
            if (!scan.ids[s].empty()) choice.add(session.hash, scan.ids[s], predicted, {f, session});
            rows += session.rows;
            ++sessions;
        }
        out.log_rows += rows;
        out.sessions += sessions;
        report("scan", f, rows);
    }
    // Ranks that read different files: a session in two files of two ranks is found by its hash's owner.
    if (collective::size() > 1 && options.session_shards == 1) {
        const double begin = since_start();
        require_sessions_in_one_file(file_of, logs, options.window_bytes);
        out.spanning_seconds = since_start() - begin;
    }
    out.scan_seconds = since_start();
    file_of = {};  // its 16 bytes a slot are not needed past the spanning check

    // The track table, once (each rank of a data-parallel job parses a share of it).
    std::optional<TrackStore> store_holder(track_store_over_ranks(tracks, options.read, nullptr, options.window_bytes));
    const TrackStore& store = *store_holder;
    out.track_seconds = since_start() - out.scan_seconds;
    const TrackStandardiser& z = store.standardiser();

    // The bin sample: the chosen sessions' rows, built as every row is.
    BinSample sample(options.bin_construct_sample_cnt);
    TabularDataset schema;
    const auto chosen = choice.by_file(logs.size());
    for (size_t f = 0; f < logs.size(); ++f) {
        if (chosen[f].empty()) continue;
        SessionLog log = contiguous[f] ? chosen_sessions(logs[f], chosen[f], options) : whole_file(logs[f], options, &chosen[f]);
        const std::vector<std::string> ids = log.session_ids;
        const TabularDataset rows = build_session_rows(store.join(std::move(log), options.read, nullptr), &z);
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
    if (sample.rows() == 0) throw DataError(logs.empty() ? "" : logs.front(), 0, "", "no sessions to train on");
    const auto feature_bins = agree_session_row_bins(sample, schema, options.max_bin);
    out.sample_seconds = since_start() - out.scan_seconds - out.track_seconds;

    // Pass 2: every file's session rows, window by window, binned into buffers of the final size.
    const gbdt::RowBinner binner(feature_bins);
    out.train = allocate(schema, feature_bins, train_rows);
    out.test = allocate(schema, feature_bins, test_rows);
    const int64_t width = schema.num_features();
    int64_t cursor[2] = {0, 0};
    int32_t sessions[2] = {0, 0};
    // One window of whole sessions (or a whole file that does not keep its sessions together).
    struct Window {
        size_t file = 0;
        bool last_of_file = false;
        bool whole_file = false;
        WindowText text;  // the body, a view of the file (csv_windows.h)
        int64_t line_offset = 0;
        // Built by the worker:
        std::vector<uint64_t> hashes;
        std::vector<uint8_t> held_out;    // per session: 1 for the test split
        std::vector<uint64_t> row_keys;   // per row: session_row_key
        std::optional<MssdData> data;  // kept only for on_window
        TabularDataset rows;  // without its float features once binned
        int64_t row_count = 0;
        Tensor bins;
    };
    // Each window parses on one thread: the windows are the parallelism. As
    // many are in flight as threads, so each is window_bytes / threads.
    const int threads = options.read.num_threads > 0 ? options.read.num_threads : omp_get_max_threads();
    const int64_t thread_window_bytes = std::max<int64_t>(options.window_bytes / threads, 1);
    ReadOptions window_read = options.read;
    window_read.num_threads = 1;
    size_t file = 0;
    std::optional<CsvWindows> windows;
    std::vector<std::string> headers(logs.size());  // each file's, for its windows in flight
    int64_t column = -1;
    const auto take = [&]() -> std::optional<Window> {
        for (; file < logs.size(); ++file) {
            Window window;
            window.file = file;
            if (!contiguous[file]) {
                window.whole_file = window.last_of_file = true;
                ++file;
                return window;
            }
            if (!windows) {
                windows.emplace(logs[file], thread_window_bytes,
                                line_marks[file] ? WindowEnds::unchecked : WindowEnds::checked);
                headers[file].assign(windows->header());
                column = csv_column(windows->header(), "session_id");
            }
            while (windows->next()) {
                // Whole sessions only: the last one may go on in the next window.
                const size_t whole =
                    windows->at_end() ? windows->body().size()
                                      : last_session_start(windows->body(), column, line_marks[file] ? Quotes::none : Quotes::possible);
                if (whole == 0) {
                    windows->consume(0);  // one session fills the window: read a larger one
                    continue;
                }
                const std::string_view body = windows->body().substr(0, whole);
                const bool first = windows->body_offset() == static_cast<int64_t>(windows->header().size());
                if (!first && body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
                    windows->consume(whole);  // blank lines at the end (the parser refuses a text without rows)
                    continue;
                }
                window.line_offset =
                    line_marks[file]
                        ? line_at(*line_marks[file], *windows, windows->body_offset()) - 1 - windows->header_lines()
                        : windows->line_offset();
                window.text = windows->take(whole);
                return window;
            }
            // The file's last window was taken before: a window without rows marks its end.
            window.last_of_file = true;
            windows.reset();
            ++file;
            return window;
        }
        return std::nullopt;
    };
    const auto work = [&](Window& window) {
        const std::string& path = logs[window.file];
        SessionLog log;
        if (window.whole_file) {
            log = whole_file(path, options, nullptr);
        } else if (!window.text.body.empty()) {
            ReadOptions read = window_read;
            read.line_offset = window.line_offset;
            log = parse_session_log(headers[window.file], window.text.body, path, read, nullptr);
            window.text = WindowText();
        } else {
            return;  // the end of a file
        }
        keep_sample(log, options);
        window.hashes.resize(log.session_ids.size());
        window.held_out.resize(log.session_ids.size());
        for (size_t s = 0; s < window.hashes.size(); ++s) {
            window.hashes[s] = session_hash(log.session_ids[s]);
            window.held_out[s] = is_test_session(window.hashes[s], options) ? 1 : 0;
        }
        MssdData data = store.join(std::move(log), options.read, nullptr);
        BinnedSessionRows binned = bin_session_rows(data, z, binner);
        window.rows = std::move(binned.rows);
        if (window.rows.category_names != schema.category_names)
            throw DataError(path, 0, "", "a categorical column holds a value outside its documented set (" +
                                             std::string(kLeakingColumn) + " or context_type); the GBDT's categories must be the same in every file");
        window.bins = std::move(binned.bins);
        window.row_count = window.bins.size(0);
        window.row_keys.resize(static_cast<size_t>(window.row_count));
        for (size_t r = 0; r < window.row_keys.size(); ++r)
            window.row_keys[r] = session_row_key(window.hashes[static_cast<size_t>(window.rows.session_index[r])],
                                                 window.rows.position[r]);
        if (options.on_window) window.data.emplace(std::move(data));
    };
    int64_t file_rows = 0;
    // The cached blocks kept between windows: a few windows' parsed columns, rows and bins.
    const auto kept_cache_bytes = static_cast<size_t>(4 * options.window_bytes);
    const auto commit = [&](Window& window) {
        const std::string& path = logs[window.file];
        const TabularDataset& rows = window.rows;
        if (window.data) options.on_window(*window.data, z, window.hashes, window.held_out);
        const uint8_t* b = window.row_count > 0 ? window.bins.data<uint8_t>() : nullptr;
        const float* y = window.row_count > 0 ? rows.labels.data<float>() : nullptr;
        // A session's rows are contiguous and go to one split: copied a session at a time.
        for (int64_t r = 0, end = 0; r < window.row_count; r = end) {
            const int32_t s = rows.session_index[static_cast<size_t>(r)];
            for (end = r + 1; end < window.row_count && rows.session_index[static_cast<size_t>(end)] == s;) ++end;
            const int which = window.held_out[static_cast<size_t>(s)];
            gbdt::BinnedDataset& to = which == 1 ? out.test : out.train;
            const int64_t o = cursor[which], n = end - r;
            if (o + n > to.rows())
                throw DataError(path, 0, "", "the file changed while it was being read (more rows than in the first pass)");
            cursor[which] += n;
            std::memcpy(to.bins.data<uint8_t>() + o * width, b + r * width, static_cast<size_t>(n * width));
            std::memcpy(to.labels.data<float>() + o, y + r, static_cast<size_t>(n) * sizeof(float));
            std::fill_n(to.session_index.begin() + o, n, sessions[which]++);
            std::copy_n(rows.position.begin() + r, n, to.position.begin() + o);
            std::copy_n(window.row_keys.begin() + r, n, to.row_keys.begin() + o);
        }
        file_rows += window.row_count;
        if (window.last_of_file) {
            report("bin", window.file, file_rows);
            file_rows = 0;
        }
        window = Window();
        // Each window's tensors differ in size: the host allocator would keep
        // every size it has seen (it caches for the training loops' repeats).
        // Up to a bound they are kept, so the next windows reuse their pages
        // rather than fault in fresh zeroed ones.
        if (allocator_for(Device::cpu).stats().bytes_cached > kept_cache_bytes) allocator_for(Device::cpu).release_cached();
    };
    run_ordered_jobs(threads, take, work, commit);
    if (cursor[0] != out.train.rows() || cursor[1] != out.test.rows())
        throw DataError(logs.empty() ? "" : logs.back(), 0, "", "the files changed while they were being read (fewer rows than in the first pass)");
    out.seconds = since_start();
    // Give the track table's and the windows' blocks back before training starts.
    store_holder.reset();
    allocator_for(Device::cpu).release_cached();
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
