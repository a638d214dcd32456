// The track-feature table of a whole ingest, built once: the track files are
// read in bounded windows (CsvWindows) straight into the final f32 rows, and
// the ids are kept once, back to back, behind one open-addressing index. Per
// track that is 116 bytes of features plus its id's bytes and 20 bytes of
// index, against the in-memory TrackTable's id strings and the join's
// per-file hash table. Log files are joined against it without a copy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"
#include "trainer/data/features.h"
#include "trainer/data/mssd.h"

namespace skipper::data {

// Part `part` of `parts` of the track files: the windows whose first data
// line falls in that part of the files' data lines (equal ranges, in file
// order).
struct TrackShare {
    int64_t part = 0, parts = 1;
};

class TrackStore {
public:
    // Reads every track file. A track id listed twice in a file is malformed
    // (its second row refused or skipped, as read_track_features does); one
    // listed in two files is a DataError naming both. With a share, only its
    // windows are parsed (the others are read past): a data-parallel job's
    // rank builds its part, and the parts assemble the whole (below).
    TrackStore(const std::vector<std::string>& paths, const ReadOptions& options, ReadReport* report,
               int64_t window_bytes = int64_t{16} << 20, const TrackShare& share = {});

    // The compact form of this table's rows (features, ids, files), as a
    // share is sent to the other ranks of a job.
    std::vector<uint8_t> pack() const;
    // The table of the packed shares of every part, taken in part order
    // (`share(p)` gives part p's; each is added and let go before the next
    // is asked for): the table one process reads, byte for byte (the same
    // rows, ids, index and standardiser; a track id in two shares is handled
    // as one process handles it in two windows).
    static TrackStore assemble(int64_t parts, const std::function<std::vector<uint8_t>(int64_t)>& share,
                               const ReadOptions& options, ReadReport* report);

    int64_t rows() const { return rows_; }
    // f32 [rows, track_feature_columns().size()].
    const Tensor& values() const { return values_; }
    // The row of a track id, or -1.
    int32_t find(std::string_view id) const;
    // The same, with the id's TextCodes::hash already computed.
    int32_t find(std::string_view id, uint64_t hash) const;
    // Computed once, over every track.
    const TrackStandardiser& standardiser() const { return standardiser_; }
    // The files, as a join error names them.
    const std::string& sources() const { return sources_; }
    // Bytes held (features, ids, index), for the memory account.
    int64_t bytes() const;

    // The log joined with this table: data.tracks shares the values (no copy,
    // no ids); unknown track ids are handled as join_tracks does.
    MssdData join(SessionLog log, const ReadOptions& options, ReadReport* report) const;

private:
    std::string_view id(int32_t row) const {
        return {ids_.data() + id_offset_[static_cast<size_t>(row)],
                id_offset_[static_cast<size_t>(row) + 1] - id_offset_[static_cast<size_t>(row)]};
    }
    // Adds a track id (h: its TextCodes::hash) as row rows_, rows_ then
    // counting it; false when the id is already there (row of it in `found`).
    bool insert(std::string_view id, uint64_t h, int32_t& found);
    // The index at twice its slots, when it would be loaded past 2/3.
    void grow_index();
    // Adds a track id of `path` as insert does; false, the row not added, on
    // its id's repeat (within the file: malformed; in another file: a
    // DataError). The caller writes the row's features.
    bool add_id(const std::string& path, std::string_view id, uint64_t h, const ReadOptions& options,
                ReadReport* report);
    // The table for `capacity` rows, no row in it yet.
    void allocate(int64_t capacity);
    // An empty index for `rows` tracks (it grows past them).
    void index_for(int64_t rows);
    // The table for `capacity` rows, its rows copied.
    void grow(int64_t capacity);
    // Adds the rows of a packed share (`part` names it in errors).
    void add_share(const std::vector<uint8_t>& packed, int64_t part, bool last, const ReadOptions& options,
                   ReadReport* report);
    TrackStore() = default;

    struct Slot {
        uint32_t tag = 0;  // the hash's high half
        int32_t row = -1;
    };
    int64_t rows_ = 0;
    int64_t capacity_ = 0;  // rows the table holds (a share's: the data lines of every file)
    Tensor values_;
    Tensor staging_;  // while reading: the table the windows' workers write their rows into
    std::vector<char> ids_;
    std::vector<uint64_t> id_offset_;  // [rows + 1]
    std::vector<Slot> slots_;
    size_t mask_ = 0;
    std::vector<std::pair<int64_t, std::string>> file_rows_;  // first row of each file, its path
    std::string sources_;
    TrackStandardiser standardiser_;
};

}  // namespace skipper::data
