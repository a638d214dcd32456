// A parallel, typed CSV reader: the engine under the MSSD readers.
//
// The file is mapped into memory, cut into chunks at line ends (quote-aware),
// and the chunks are parsed concurrently, each value with a hand-written or
// std::from_chars parser straight into its column's host tensor. Text columns
// are dictionary-encoded per chunk, then the dictionaries are merged in chunk
// order, so codes follow the order of first appearance in the file whatever
// the thread count.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "engine/tensor.h"
#include "trainer/data/mssd.h"

namespace skipper::data::csv {

enum class Kind {
    integer,  // i32, optional sign
    real,     // f32; an empty field is NaN (missing)
    boolean,  // u8 from true/false, True/False, 0/1
    date,     // i32 days since 1970-01-01 from YYYY-MM-DD
    text,     // i32 code into an open dictionary seeded with `values`
    choice,   // i32 index into the closed list `values`; anything else is malformed
};

struct ColumnSpec {
    std::string name;
    Kind kind;
    std::vector<std::string> values = {};
    // Valid range of an integer column, inclusive.
    int32_t min = std::numeric_limits<int32_t>::min();
    int32_t max = std::numeric_limits<int32_t>::max();
};

struct Column {
    Tensor values;                        // [rows]
    std::vector<std::string> dictionary;  // text columns: code -> text
};

struct Table {
    int64_t rows = 0;
    std::vector<Column> columns;      // in the order of the specs
    std::vector<int64_t> line;        // 1-based line of each row
};

// Reads the columns named in `specs` (found by header name; others are
// ignored). Errors are DataError with file, line, column name, the text found
// and what was expected.
Table read_csv(const std::string& path, const std::vector<ColumnSpec>& specs, const ReadOptions& options,
               ReadReport* report);
// The same over text in memory; `path` names it in errors.
Table parse_csv(std::string_view text, const std::string& path, const std::vector<ColumnSpec>& specs,
                const ReadOptions& options, ReadReport* report);
// The same over a header line and a body apart (a window of a file, without
// copying the header in front of it).
Table parse_csv(std::string_view header, std::string_view body, const std::string& path,
                const std::vector<ColumnSpec>& specs, const ReadOptions& options, ReadReport* report);

}  // namespace skipper::data::csv
