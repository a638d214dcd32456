// Train/test splits, deterministic for a given seed (std::mt19937_64 shuffle,
// so the same on every platform and thread count).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/data/dataset.h"

namespace skipper::data {

struct Split {
    std::vector<int64_t> train;  // indices, ascending
    std::vector<int64_t> test;   // indices, ascending
};

// Random split of `count` items (rows for the seed task, sessions for the
// session task): round(count * test_fraction) go to test.
Split random_split(int64_t count, double test_fraction = 0.2, uint64_t seed = 42);

// The seed task's split: rows of `data`, 80/20, seed 42 by default.
Split random_row_split(const TabularDataset& data, double test_fraction = 0.2, uint64_t seed = 42);

// The session task's split: whole sessions, never rows. The indices are
// session indices (rows of a SequenceDataset, values of session_index).
Split session_split(int64_t num_sessions, double test_fraction = 0.2, uint64_t seed = 42);

// Subsets. take_rows keeps rows in the given order (with session_index and
// position when present); rows_of_sessions lists the rows of a per-row
// session dataset whose session_index is among `sessions`.
TabularDataset take_rows(const TabularDataset& data, const std::vector<int64_t>& rows);
std::vector<int64_t> rows_of_sessions(const TabularDataset& data, const std::vector<int64_t>& sessions);
SequenceDataset take_sessions(const SequenceDataset& data, const std::vector<int64_t>& sessions);
// Sessions [begin, end) as a view of `data` (no copy of its tensors; a mapped
// dataset stays mapped and keeps its read_bytes).
SequenceDataset slice_sessions(const SequenceDataset& data, int64_t begin, int64_t end);

}  // namespace skipper::data
