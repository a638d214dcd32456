#include "trainer/data/split.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "engine/error.h"

namespace skipper::data {

Split random_split(int64_t count, double test_fraction, uint64_t seed) {
    if (count < 0) throw Error("random_split: negative count " + std::to_string(count));
    if (!(test_fraction >= 0.0 && test_fraction <= 1.0))
        throw ParamError("test_fraction", "must be in [0, 1], got " + std::to_string(test_fraction));
    std::vector<int64_t> order(static_cast<size_t>(count));
    std::iota(order.begin(), order.end(), int64_t{0});
    // Fisher-Yates with a fixed generator and our own index draw, so the split
    // is the same with every standard library.
    std::mt19937_64 random(seed);
    for (int64_t i = count - 1; i > 0; --i) {
        const auto j = static_cast<int64_t>(random() % static_cast<uint64_t>(i + 1));
        std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
    }
    const auto test_count = static_cast<int64_t>(std::llround(static_cast<double>(count) * test_fraction));
    Split split;
    split.test.assign(order.begin(), order.begin() + test_count);
    split.train.assign(order.begin() + test_count, order.end());
    std::sort(split.test.begin(), split.test.end());
    std::sort(split.train.begin(), split.train.end());
    return split;
}

Split random_row_split(const TabularDataset& data, double test_fraction, uint64_t seed) {
    return random_split(data.rows(), test_fraction, seed);
}

Split session_split(int64_t num_sessions, double test_fraction, uint64_t seed) {
    return random_split(num_sessions, test_fraction, seed);
}

namespace {

// Copies rows `rows` (of `row_bytes` each) of `src` into a new tensor shaped [rows.size(), ...].
Tensor take(const Tensor& src, const std::vector<int64_t>& rows) {
    Shape shape = src.shape();
    const int64_t available = shape[0];
    shape[0] = static_cast<int64_t>(rows.size());
    Tensor out = Tensor::empty(shape, src.dtype());
    const size_t row_bytes = src.numel() == 0 ? 0 : src.nbytes() / static_cast<size_t>(available);
    const auto* from = static_cast<const char*>(src.raw());
    auto* to = static_cast<char*>(out.raw());
    for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i] < 0 || rows[i] >= available)
            throw Error("take: index " + std::to_string(rows[i]) + " out of range [0, " + std::to_string(available) + ")");
        std::memcpy(to + i * row_bytes, from + static_cast<size_t>(rows[i]) * row_bytes, row_bytes);
    }
    return out;
}

}  // namespace

TabularDataset take_rows(const TabularDataset& data, const std::vector<int64_t>& rows) {
    TabularDataset out;
    out.feature_names = data.feature_names;
    out.categorical = data.categorical;
    out.category_names = data.category_names;
    out.features = take(data.features, rows);
    out.labels = take(data.labels, rows);
    if (!data.session_index.empty()) {
        out.session_index.reserve(rows.size());
        out.position.reserve(rows.size());
        for (int64_t r : rows) {
            out.session_index.push_back(data.session_index[static_cast<size_t>(r)]);
            out.position.push_back(data.position[static_cast<size_t>(r)]);
        }
    }
    return out;
}

std::vector<int64_t> rows_of_sessions(const TabularDataset& data, const std::vector<int64_t>& sessions) {
    if (static_cast<int64_t>(data.session_index.size()) != data.rows())
        throw Error("rows_of_sessions: the dataset has no session_index per row (not a session-task dataset)");
    int32_t largest = 0;
    for (int32_t s : data.session_index) largest = std::max(largest, s);
    std::vector<bool> wanted(static_cast<size_t>(largest) + 1, false);
    for (int64_t s : sessions)
        if (s >= 0 && s <= largest) wanted[static_cast<size_t>(s)] = true;
    std::vector<int64_t> rows;
    for (size_t r = 0; r < data.session_index.size(); ++r)
        if (wanted[static_cast<size_t>(data.session_index[r])]) rows.push_back(static_cast<int64_t>(r));
    return rows;
}

SequenceDataset take_sessions(const SequenceDataset& data, const std::vector<int64_t>& sessions) {
    SequenceDataset out;
    out.feature_names = data.feature_names;
    out.inputs = take(data.inputs, sessions);
    out.labels = take(data.labels, sessions);
    out.step_mask = take(data.step_mask, sessions);
    out.history_mask = take(data.history_mask, sessions);
    out.predict_mask = take(data.predict_mask, sessions);
    if (data.track_hash.defined()) out.track_hash = take(data.track_hash, sessions);
    out.lengths.reserve(sessions.size());
    for (int64_t s : sessions) out.lengths.push_back(data.lengths[static_cast<size_t>(s)]);
    if (!data.session_hash.empty())
        for (int64_t s : sessions) out.session_hash.push_back(data.session_hash[static_cast<size_t>(s)]);
    return out;
}

SequenceDataset slice_sessions(const SequenceDataset& data, int64_t begin, int64_t end) {
    SequenceDataset out;
    out.feature_names = data.feature_names;
    out.inputs = data.inputs.slice_rows(begin, end);
    out.labels = data.labels.slice_rows(begin, end);
    out.step_mask = data.step_mask.slice_rows(begin, end);
    out.history_mask = data.history_mask.slice_rows(begin, end);
    out.predict_mask = data.predict_mask.slice_rows(begin, end);
    if (data.track_hash.defined()) out.track_hash = data.track_hash.slice_rows(begin, end);
    out.lengths.assign(data.lengths.begin() + begin, data.lengths.begin() + end);
    if (!data.session_hash.empty())
        out.session_hash.assign(data.session_hash.begin() + begin, data.session_hash.begin() + end);
    out.read_bytes = data.read_bytes;
    return out;
}

}  // namespace skipper::data
