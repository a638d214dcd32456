#include "trainer/data/track_store.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <optional>
#include <cstring>

#include "engine/allocator.h"
#include "engine/error.h"
#include "trainer/data/csv_windows.h"
#include "trainer/data/file_text.h"
#include "trainer/data/ordered_jobs.h"
#include "trainer/data/text_codes.h"
#include "trainer/data/text_scan.h"

namespace skipper::data {

namespace {

// Data lines of a file: an upper bound on its tracks.
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

// Bytes of text of the files, for sizing the table from its first window: a
// plain file's size; a .gz file's text is taken as 4 times its disk size (a
// guess: the table grows if it is short).
int64_t text_bytes(const std::vector<std::string>& paths) {
    int64_t bytes = 0;
    for (const auto& path : paths) bytes += ReadOnlyFile(path).size() * (is_gzip_path(path) ? 4 : 1);
    return bytes;
}

constexpr int64_t kPrefetchAhead = 16;  // ids ahead whose index slot is asked for while one is entered

// `count` copies of `value`. The index is probed at random, and on 4 KB
// pages nearly every probe of a big one also missed the TLB: its pages are
// asked to be huge (advice only, as the host allocator asks for tensors).
template <class T> void assign_on_huge_pages(std::vector<T>& values, size_t count, const T& value) {
    constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
    std::vector<T>().swap(values);
    values.reserve(count);
    const auto begin = (reinterpret_cast<uintptr_t>(values.data()) + kHugePage - 1) & ~(kHugePage - 1);
    const auto end = (reinterpret_cast<uintptr_t>(values.data() + count)) & ~(kHugePage - 1);
    if (begin < end) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
    values.assign(count, value);
}

}  // namespace

TrackStore::TrackStore(const std::vector<std::string>& paths, const ReadOptions& options, ReadReport* report,
                       int64_t window_bytes, const TrackShare& share) {
    const auto columns = static_cast<int64_t>(track_feature_columns().size());
    // A share's windows are those whose first data line falls in its part of
    // every file's data lines, the same on every rank whatever its threads:
    // the lines are counted first (a pass over the files), and the table
    // holds them all. One process reading every window needs no count: the
    // table is sized from its first window (`take` below).
    std::vector<int64_t> first_line;  // per file: its first data line among every file's
    int64_t lines = 0;
    if (share.parts > 1) {
        for (const auto& path : paths) {
            first_line.push_back(lines);
            lines += count_data_lines(path, window_bytes);
        }
        allocate(lines);
        index_for(lines);
    }
    const auto in_share = [&](size_t f, int64_t line) {
        return share.parts == 1 || (first_line[f] + line) * share.parts / std::max<int64_t>(lines, 1) == share.part;
    };

    // Windows parse on one thread each, as many at once as threads (ordered_jobs.h);
    // their tracks enter the table in file order. Which windows are a share's
    // must not depend on a rank's thread count, so shared windows keep window_bytes.
    const int threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
    const int64_t each_window_bytes = share.parts > 1 ? window_bytes : std::max<int64_t>(window_bytes / threads, 1);
    ReadOptions window_read = options;
    window_read.num_threads = 1;
    // A window's rows are written by its worker straight into the table, at
    // the row they take when no row before them was dropped: after every
    // line of the windows before it (`first_row`). Its commit then only
    // enters the ids, and moves the rows forward when rows were dropped
    // (blank lines, skipped rows, repeated ids). A window whose rows would
    // pass the table's end keeps them, and its commit grows the table.
    struct Window {
        size_t file = 0;
        WindowText text;  // the body, a view of the file (csv_windows.h)
        int64_t line_offset = 0;
        int64_t first_row = 0;  // rows_ if no row before this window's was dropped
        int64_t rows = 0;
        bool in_table = false;  // the rows were written at first_row of staging_
        Tensor values;          // otherwise, here: f32 [rows, columns]
        std::vector<uint64_t> hashes;     // TextCodes::hash of each row's id
        std::vector<char> ids;            // the ids back to back
        std::vector<uint32_t> id_offset;  // [rows + 1]
        ReadReport report;
    };
    size_t file = 0;
    std::optional<CsvWindows> windows;
    std::vector<std::string> headers(paths.size());  // each file's, for its windows in flight
    int64_t lines_taken = 0;  // the lines of the windows taken, an upper bound on their rows
    int64_t expected_rows = 0;  // the index is made for them by the first commit, not under the take lock
    const auto take = [&]() -> std::optional<Window> {
        for (; file < paths.size(); ++file) {
            if (!windows) {
                windows.emplace(paths[file], each_window_bytes);
                headers[file].assign(windows->header());
                sources_ += (sources_.empty() ? "" : ", ") + paths[file];
            }
            while (windows->next()) {
                if (!in_share(file, windows->line_offset())) {
                    windows->consume(windows->body().size());
                    continue;
                }
                Window window;
                window.file = file;
                window.line_offset = windows->line_offset();
                window.text = windows->take(windows->body().size());
                // Its lines: the line ends in it, and a last line without one.
                const int64_t window_lines = windows->line_offset() - window.line_offset +
                                             (window.text.body.back() != '\n');
                if (!staging_.defined()) {
                    // Every file's lines, at this first window's bytes per line, and an eighth more.
                    const auto bytes = static_cast<double>(window.text.body.size());
                    expected_rows = static_cast<int64_t>(
                        static_cast<double>(text_bytes(paths)) * static_cast<double>(window_lines) / bytes);
                    allocate(std::max(expected_rows + expected_rows / 8 + 64, window_lines));
                }
                window.first_row = lines_taken;
                lines_taken += window_lines;
                return window;
            }
            windows.reset();
        }
        return std::nullopt;
    };
    const auto work = [&](Window& window) {
        ReadOptions read = window_read;
        read.line_offset = window.line_offset;
        TrackTable part = parse_track_features(headers[window.file], window.text.body, paths[window.file], read,
                                               report != nullptr ? &window.report : nullptr);
        window.text = WindowText();
        window.rows = part.rows();
        const auto n = static_cast<size_t>(window.rows);
        window.hashes.resize(n);
        window.id_offset.resize(n + 1, 0);
        size_t id_bytes = 0;
        for (const auto& id : part.track_ids) id_bytes += id.size();
        window.ids.resize(id_bytes);
        for (size_t r = 0; r < n; ++r) {
            const std::string& id = part.track_ids[r];
            window.hashes[r] = TextCodes::hash(id);
            std::memcpy(window.ids.data() + window.id_offset[r], id.data(), id.size());
            window.id_offset[r + 1] = window.id_offset[r] + static_cast<uint32_t>(id.size());
        }
        // staging_ is read only: its size and storage were set before any window was taken.
        window.in_table = window.first_row + window.rows <= staging_.size(0);
        if (window.in_table && n > 0)
            std::memcpy(staging_.data<float>() + window.first_row * columns, part.values.data<float>(),
                        n * static_cast<size_t>(columns) * sizeof(float));
        else window.values = std::move(part.values);
    };
    // Each file's first row, in file order (also for a file without rows or
    // outside this share): the files up to `file` begin at the rows committed so far.
    const auto name_files_through = [&](size_t file_index) {
        while (file_rows_.size() <= file_index && file_rows_.size() < paths.size())
            file_rows_.emplace_back(rows_, paths[file_rows_.size()]);
    };
    const auto commit = [&](Window& window) {
        const std::string& path = paths[window.file];
        name_files_through(window.file);
        if (report != nullptr) {
            report->rows_read += window.report.rows_read;
            report->rows_skipped += window.report.rows_skipped;
            for (auto& p : window.report.problems)
                if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(std::move(p));
        }
        const int64_t n = window.rows;
        if (slots_.empty()) index_for(expected_rows);
        if (ids_.capacity() == 0 && n > 0)  // the ids' bytes from this first window's mean, with room to spare
            ids_.reserve(window.ids.size() / static_cast<size_t>(n) * static_cast<size_t>(capacity_) * 5 / 4 + 64);
        // A window is not in the table only when the table is too short; those after it are not either.
        if (rows_ + n > capacity_) grow(std::max(capacity_ * 2, rows_ + n));
        const float* from = window.in_table ? staging_.data<float>() + window.first_row * columns : window.values.data<float>();
        for (int64_t r = 0; r < n; ++r) {
            if (r + kPrefetchAhead < n) __builtin_prefetch(&slots_[window.hashes[static_cast<size_t>(r + kPrefetchAhead)] & mask_]);
            const auto at = static_cast<size_t>(r);
            const std::string_view id(window.ids.data() + window.id_offset[at], window.id_offset[at + 1] - window.id_offset[at]);
            if (!add_id(path, id, window.hashes[at], options, report)) continue;
            // In place unless rows before it were dropped, or the window is not in the table.
            float* to = values_.data<float>() + (rows_ - 1) * columns;
            if (to != from + r * columns) std::memmove(to, from + r * columns, static_cast<size_t>(columns) * sizeof(float));
        }
        window = Window();
    };
    run_ordered_jobs(threads, take, work, commit);
    if (!staging_.defined()) allocate(0);  // no window: no rows
    if (slots_.empty()) index_for(0);
    staging_ = Tensor();
    name_files_through(paths.size());
    values_ = values_.slice_rows(0, rows_);
    standardiser_ = TrackStandardiser(values_);
    // The windows' parsed tensors were each of another size: the host allocator would keep them all.
    allocator_for(Device::cpu).release_cached();
}

void TrackStore::allocate(int64_t capacity) {
    capacity_ = capacity;
    const auto columns = static_cast<int64_t>(track_feature_columns().size());
    // Pages are only taken as rows are written: a capacity past the rows costs no memory.
    values_ = Tensor::empty({std::max<int64_t>(capacity, 1), columns}, DType::f32);
    staging_ = values_;
    id_offset_.reserve(static_cast<size_t>(capacity) + 1);
    id_offset_.assign(1, 0);
}

void TrackStore::index_for(int64_t rows) {
    size_t slots = 64;
    while (slots * 2 < static_cast<size_t>(rows) * 3) slots *= 2;  // load at most 2/3
    assign_on_huge_pages(slots_, slots, Slot{});
    mask_ = slots - 1;
}

void TrackStore::grow(int64_t capacity) {
    const auto columns = static_cast<int64_t>(track_feature_columns().size());
    Tensor values = Tensor::empty({capacity, columns}, DType::f32);
    if (rows_ > 0) std::memcpy(values.data<float>(), values_.data<float>(), static_cast<size_t>(rows_ * columns) * sizeof(float));
    values_ = std::move(values);
    capacity_ = capacity;
}

bool TrackStore::add_id(const std::string& path, std::string_view id, uint64_t hash, const ReadOptions& options,
                        ReadReport* report) {
    int32_t found = -1;
    if (insert(id, hash, found)) return true;
    // Within one window the parser already refused a repeat; here it is another window or file.
    const auto file = std::upper_bound(file_rows_.begin(), file_rows_.end(), int64_t{found},
                                       [](int64_t row, const auto& first) { return row < first.first; }) - 1;
    if (file->second != path)
        throw DataError(path, 0, "track_id", "track '" + std::string(id) + "' is also listed in " + file->second +
                                                 ", expected each track id in one file");
    const DataError error(path, 0, "track_id", "found '" + std::string(id) + "' again, expected each track id once");
    if (options.on_bad_row == OnBadRow::error) throw error;
    if (report != nullptr) {
        --report->rows_read;
        ++report->rows_skipped;
        if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(error.what());
    }
    return false;
}

namespace {

// Arrays start at multiples of 8 bytes of the packed form (whose buffer is
// allocated aligned), so they are read in place.
constexpr size_t kAlign = 8;

template <class T> void put(std::vector<uint8_t>& out, const T* values, size_t count) {
    static_assert(kAlign % alignof(T) == 0);
    out.resize((out.size() + kAlign - 1) / kAlign * kAlign, 0);
    const size_t at = out.size();
    out.resize(at + count * sizeof(T));
    if (count > 0) std::memcpy(out.data() + at, values, count * sizeof(T));
}

// Reads the packed form back, checking its bounds.
class Unpack {
public:
    explicit Unpack(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
    template <class T> T get() {
        T value;
        std::memcpy(&value, get_array<T>(1), sizeof(T));
        return value;
    }
    template <class T> const T* get_array(size_t count) {
        at_ = std::min(bytes_.size(), (at_ + kAlign - 1) / kAlign * kAlign);
        if (reinterpret_cast<uintptr_t>(bytes_.data() + at_) % alignof(T) != 0)
            throw Error("TrackStore: a packed share is not aligned");
        return reinterpret_cast<const T*>(take(count * sizeof(T)));
    }

private:
    const uint8_t* take(size_t count) {
        if (count > bytes_.size() - at_) throw Error("TrackStore: a packed share is cut short");
        const uint8_t* p = bytes_.data() + at_;
        at_ += count;
        return p;
    }
    const std::vector<uint8_t>& bytes_;
    size_t at_ = 0;
};

}  // namespace

// Layout: capacity, rows, files; per file its first row, path length and
// path; the id offsets [rows + 1], the id bytes, the features [rows, columns].
std::vector<uint8_t> TrackStore::pack() const {
    std::vector<uint8_t> out;
    const int64_t header[] = {capacity_, rows_, static_cast<int64_t>(file_rows_.size())};
    put(out, header, 3);
    for (const auto& [first, path] : file_rows_) {
        const int64_t file[] = {first, static_cast<int64_t>(path.size())};
        put(out, file, 2);
        put(out, path.data(), path.size());
    }
    put(out, id_offset_.data(), static_cast<size_t>(rows_) + 1);
    put(out, ids_.data(), id_offset_[static_cast<size_t>(rows_)]);
    put(out, values_.data<float>(), static_cast<size_t>(values_.numel()));
    return out;
}

TrackStore TrackStore::assemble(int64_t parts, const std::function<std::vector<uint8_t>(int64_t)>& share,
                                const ReadOptions& options, ReadReport* report) {
    TrackStore store;
    for (int64_t p = 0; p < parts; ++p) store.add_share(share(p), p, p + 1 == parts, options, report);
    store.staging_ = Tensor();
    store.values_ = store.values_.slice_rows(0, store.rows_);
    store.standardiser_ = TrackStandardiser(store.values_);
    return store;
}

void TrackStore::add_share(const std::vector<uint8_t>& packed, int64_t part, bool last, const ReadOptions& options,
                           ReadReport* report) {
    const auto columns = static_cast<int64_t>(track_feature_columns().size());
    Unpack in(packed);
    const auto capacity = in.get<int64_t>();
    const auto rows = in.get<int64_t>();
    const auto files = in.get<int64_t>();
    if (part == 0) {
        allocate(capacity);
        index_for(capacity);
    }
    // Every share holds part of the same files' lines: together no more rows than those.
    if (capacity != capacity_ || rows < 0 || rows > capacity - rows_ || files < 0)
        throw Error("TrackStore: share " + std::to_string(part) + " does not fit the others");
    std::vector<std::pair<int64_t, std::string>> file_rows;
    for (int64_t f = 0; f < files; ++f) {
        const auto first = in.get<int64_t>();
        const auto length = static_cast<size_t>(in.get<int64_t>());
        file_rows.emplace_back(first, std::string(in.get_array<char>(length), length));
    }
    const uint64_t* offsets = in.get_array<uint64_t>(static_cast<size_t>(rows) + 1);
    const char* ids = in.get_array<char>(offsets[rows]);
    const float* features = in.get_array<float>(static_cast<size_t>(rows * columns));
    // Every share names every file, and the shares hold consecutive ranges
    // of lines in file order: a file begins in the whole where the first
    // share with tracks of it (or past it) is.
    const auto begin_files = [&](size_t count) {
        while (file_rows_.size() < count && file_rows_.size() < file_rows.size()) {
            const std::string& path = file_rows[file_rows_.size()].second;
            file_rows_.emplace_back(rows_, path);
            sources_ += (sources_.empty() ? "" : ", ") + path;
        }
    };
    for (int64_t f = 0; f < files; ++f) {
        const int64_t begin = file_rows[static_cast<size_t>(f)].first;
        const int64_t end = f + 1 < files ? file_rows[static_cast<size_t>(f) + 1].first : rows;
        const std::string& path = file_rows[static_cast<size_t>(f)].second;
        if (begin < 0 || end > rows || begin > end || offsets[end] < offsets[begin])
            throw Error("TrackStore: share " + std::to_string(part) + " is malformed");
        if (begin == end) continue;
        begin_files(static_cast<size_t>(f) + 1);
        for (int64_t r = begin; r < end; ++r) {
            const std::string_view id(ids + offsets[r], offsets[r + 1] - offsets[r]);
            if (add_id(path, id, TextCodes::hash(id), options, report))
                std::memcpy(values_.data<float>() + (rows_ - 1) * columns, features + r * columns,
                            static_cast<size_t>(columns) * sizeof(float));
        }
    }
    if (last) begin_files(file_rows.size());
}

bool TrackStore::insert(std::string_view text, uint64_t h, int32_t& found) {
    if (static_cast<size_t>(rows_ + 1) * 3 > slots_.size() * 2) grow_index();
    const auto tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
        Slot& slot = slots_[i];
        if (slot.row < 0) {
            slot = {tag, static_cast<int32_t>(rows_)};
            ids_.insert(ids_.end(), text.begin(), text.end());
            id_offset_.push_back(ids_.size());
            ++rows_;
            return true;
        }
        if (slot.tag == tag && id(slot.row) == text) {
            found = slot.row;
            return false;
        }
    }
}

void TrackStore::grow_index() {
    assign_on_huge_pages(slots_, slots_.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (int64_t row = 0; row < rows_; ++row) {
        const uint64_t h = TextCodes::hash(id(static_cast<int32_t>(row)));
        size_t i = h & mask_;
        while (slots_[i].row >= 0) i = (i + 1) & mask_;
        slots_[i] = {static_cast<uint32_t>(h >> 32), static_cast<int32_t>(row)};
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
