#include "trainer/data/track_store.h"

#include <omp.h>

#include <algorithm>
#include <optional>
#include <cstring>

#include "engine/allocator.h"
#include "engine/error.h"
#include "trainer/data/csv_windows.h"
#include "trainer/data/ordered_jobs.h"
#include "trainer/data/text_codes.h"
#include "trainer/data/text_scan.h"

namespace skipper::data {

namespace {

// Data lines of a file: an upper bound on its tracks, so the table is
// allocated once at its final size.
int64_t count_data_lines(const std::string& path, int64_t window_bytes) {
    CsvWindows windows(path, window_bytes);
    int64_t lines = 0;
    while (windows.next()) {
        const std::string_view body = windows.body();
        lines += count_newlines(body.data(), body.data() + body.size()) + (windows.at_end() && !body.empty() && body.back() != '\n');
        windows.consume(body.size());
    }
    return lines;
}

}  // namespace

TrackStore::TrackStore(const std::vector<std::string>& paths, const ReadOptions& options, ReadReport* report,
                       int64_t window_bytes) {
    int64_t capacity = 0;
    for (const auto& path : paths) capacity += count_data_lines(path, window_bytes);
    const auto columns = static_cast<int64_t>(track_feature_columns().size());
    values_ = Tensor::empty({std::max<int64_t>(capacity, 1), columns}, DType::f32);
    id_offset_.reserve(static_cast<size_t>(capacity) + 1);
    id_offset_.push_back(0);
    size_t slots = 64;
    while (slots * 2 < static_cast<size_t>(capacity) * 3) slots *= 2;  // load at most 2/3
    slots_.assign(slots, Slot{});
    mask_ = slots - 1;

    // Windows parse on one thread each, as many at once as threads (ordered_jobs.h);
    // their tracks enter the table in file order.
    const int threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
    ReadOptions window_read = options;
    window_read.num_threads = 1;
    struct Window {
        size_t file = 0;
        std::string text;  // header and body
        int64_t line_offset = 0;
        TrackTable part;   // parsed by the worker
        ReadReport report;
    };
    size_t file = 0;
    std::optional<CsvWindows> windows;
    const auto take = [&]() -> std::optional<Window> {
        for (; file < paths.size(); ++file) {
            if (!windows) {
                windows.emplace(paths[file], std::max<int64_t>(window_bytes / threads, 1));
                sources_ += (sources_.empty() ? "" : ", ") + paths[file];
            }
            if (windows->next()) {
                Window window;
                window.file = file;
                window.line_offset = windows->line_offset();
                window.text.assign(windows->text());
                windows->consume(windows->body().size());
                return window;
            }
            windows.reset();
        }
        return std::nullopt;
    };
    const auto work = [&](Window& window) {
        ReadOptions read = window_read;
        read.line_offset = window.line_offset;
        window.part = parse_track_features(window.text, paths[window.file], read, report != nullptr ? &window.report : nullptr);
        window.text = std::string();
    };
    float* values = values_.data<float>();
    // Each file's first row, in file order (also for a file without rows): the
    // files up to `file` begin at the rows committed so far.
    const auto name_files_through = [&](size_t file_index) {
        while (file_rows_.size() <= file_index && file_rows_.size() < paths.size())
            file_rows_.emplace_back(rows_, paths[file_rows_.size()]);
    };
    const auto commit = [&](Window& window) {
        const std::string& path = paths[window.file];
        const TrackTable& part = window.part;
        name_files_through(window.file);
        if (report != nullptr) {
            report->rows_read += window.report.rows_read;
            report->rows_skipped += window.report.rows_skipped;
            for (auto& p : window.report.problems)
                if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(std::move(p));
        }
        if (ids_.capacity() == 0 && part.rows() > 0) {
            // Reserve the ids' bytes from this first window's mean, with room to spare.
            size_t bytes = 0;
            for (const auto& id : part.track_ids) bytes += id.size();
            ids_.reserve(bytes / static_cast<size_t>(part.rows()) * static_cast<size_t>(capacity) * 5 / 4 + 64);
        }
        const float* v = part.values.data<float>();
        for (int64_t r = 0; r < part.rows(); ++r) {
            const std::string& id = part.track_ids[static_cast<size_t>(r)];
            int32_t found = -1;
            if (!insert(id, found)) {
                // Within one window the parser already refused a repeat; here it is another window or file.
                const auto first = std::upper_bound(file_rows_.begin(), file_rows_.end(), int64_t{found},
                                                    [](int64_t row, const auto& f) { return row < f.first; }) - 1;
                if (first->second != path)
                    throw DataError(path, 0, "track_id", "track '" + id + "' is also listed in " + first->second +
                                                             ", expected each track id in one file");
                const DataError error(path, 0, "track_id", "found '" + id + "' again, expected each track id once");
                if (options.on_bad_row == OnBadRow::error) throw error;
                if (report != nullptr) {
                    --report->rows_read;
                    ++report->rows_skipped;
                    if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(error.what());
                }
                continue;
            }
            std::memcpy(values + rows_ * columns, v + r * columns, static_cast<size_t>(columns) * sizeof(float));
            ++rows_;
        }
        window = Window();
    };
    run_ordered_jobs(threads, take, work, commit);
    name_files_through(paths.size());
    values_ = values_.slice_rows(0, rows_);
    standardiser_ = TrackStandardiser(values_);
    // The windows' parsed tensors were each of another size: the host allocator would keep them all.
    allocator_for(Device::cpu).release_cached();
}

bool TrackStore::insert(std::string_view text, int32_t& found) {
    const uint64_t h = TextCodes::hash(text);
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        Slot& slot = slots_[i];
        if (slot.row < 0) {
            if (rows_ >= values_.size(0)) throw DataError(sources_, 0, "track_id", "the track files grew while they were being read");
            slot = {tag, static_cast<int32_t>(rows_)};
            ids_.insert(ids_.end(), text.begin(), text.end());
            id_offset_.push_back(ids_.size());
            return true;
        }
        if (slot.tag == tag && id(slot.row) == text) {
            found = slot.row;
            return false;
        }
    }
}

int32_t TrackStore::find(std::string_view text) const { return find(text, TextCodes::hash(text)); }

int32_t TrackStore::find(std::string_view text, uint64_t h) const {
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        const Slot& slot = slots_[i];
        if (slot.row < 0) return -1;
        if (slot.tag == tag && id(slot.row) == text) return slot.row;
    }
}

int64_t TrackStore::bytes() const {
    return static_cast<int64_t>(values_.nbytes() + ids_.capacity() + id_offset_.capacity() * sizeof(uint64_t) +
                                slots_.size() * sizeof(Slot));
}

MssdData TrackStore::join(SessionLog log, const ReadOptions& options, ReadReport* report) const {
    // The table is far larger than the caches: a find misses on its slot, then
    // on the id's offset, then on its bytes. Hashing every id first lets those
    // three be fetched ahead, each a few ids before it is needed.
    const std::vector<std::string>& ids = log.track_ids;
    const size_t n = ids.size();
    std::vector<uint64_t> hashes(n);
    for (size_t c = 0; c < n; ++c) hashes[c] = TextCodes::hash(ids[c]);
    constexpr size_t kAhead = 8;
    const auto row_at = [&](size_t c) { return slots_[hashes[c] & mask_].row; };
    std::vector<int32_t> row_of_code(n);
    for (size_t c = 0; c < n; ++c) {
        if (c + 3 * kAhead < n) __builtin_prefetch(&slots_[hashes[c + 3 * kAhead] & mask_]);
        if (c + 2 * kAhead < n && row_at(c + 2 * kAhead) >= 0)
            __builtin_prefetch(&id_offset_[static_cast<size_t>(row_at(c + 2 * kAhead))]);
        if (c + kAhead < n && row_at(c + kAhead) >= 0)
            __builtin_prefetch(ids_.data() + id_offset_[static_cast<size_t>(row_at(c + kAhead))]);
        row_of_code[c] = find(ids[c], hashes[c]);
    }
    TrackTable tracks;
    tracks.source = sources_;
    tracks.values = values_;
    return join_track_rows(std::move(log), row_of_code, std::move(tracks), options, report);
}

}  // namespace skipper::data
