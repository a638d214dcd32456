// bin_session_rows (the streamed ingest's pass 2) against binning the float
// rows of build_session_rows: the same bins, byte for byte, on generated data
// made awkward: sessions of every length 1..20, missing track values, tracks
// and categories outside the bin sample.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <set>

#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/gbdt/binned_dataset.h"

namespace skipper::data {
namespace {

// Generated sessions cut to lengths 1, 2, ..., 20 in turn (the generator's
// are 10..20), some track values missing, and the last third of the sessions
// playing a context type and ending tracks for a reason that the first two
// thirds never have.
MssdData awkward_data(int64_t sessions) {
    GeneratorOptions options;
    options.sessions = sessions;
    options.seed = 7;
    MssdData data = generate_mssd(options);
    SessionLog& log = data.log;
    const auto* session = log.session.data<int32_t>();
    const auto* position = log.session_position.data<int32_t>();
    auto* length = log.session_length.data<int32_t>();
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < log.rows; ++i) {
        const int32_t cut = 1 + session[i] % 20;
        if (position[i] > cut) continue;
        length[i] = std::min(length[i], cut);
        keep.push_back(i);
    }
    std::vector<int32_t> track_row;
    for (int64_t i : keep) track_row.push_back(data.track_row.data<int32_t>()[i]);
    keep_log_rows(log, keep);
    data.track_row = Tensor::from_vector<int32_t>(track_row, {static_cast<int64_t>(track_row.size())});

    const auto new_context = static_cast<int32_t>(log.context_type_names.size());
    log.context_type_names.push_back("zz_unseen_context");
    const auto new_end = static_cast<int32_t>(log.reason_end_names.size());
    log.reason_end_names.push_back("zz_unseen_reason");
    session = log.session.data<int32_t>();
    for (int64_t i = 0; i < log.rows; ++i) {
        if (session[i] < 2 * log.num_sessions() / 3) continue;
        if (i % 3 == 0) log.context_type.data<int32_t>()[i] = new_context;
        if (i % 4 == 0) log.hist_user_behavior_reason_end.data<int32_t>()[i] = new_end;
    }
    float* values = data.tracks.values.data<float>();
    const int64_t count = data.tracks.values.numel();
    for (int64_t v = 0; v < count; v += 7) values[v] = std::numeric_limits<float>::quiet_NaN();
    return data;
}

TEST(SessionBins, BinSessionRowsEqualsBinningTheFloatRows) {
    const MssdData data = awkward_data(600);
    const TrackStandardiser z(data.tracks);
    const TabularDataset rows = build_session_rows(data, &z);
    std::set<int32_t> lengths;
    for (int64_t i = 0; i < data.log.rows; ++i) lengths.insert(data.log.session_length.data<int32_t>()[i]);
    ASSERT_EQ(lengths.size(), 20u) << "every session length 1..20";

    // The bins are fitted on the first third of the sessions' rows only: the
    // others hold tracks, values and categories the sample never saw.
    int64_t sample_rows = 0;
    while (sample_rows < rows.rows() && rows.session_index[static_cast<size_t>(sample_rows)] < data.log.num_sessions() / 3)
        ++sample_rows;
    const int64_t width = rows.num_features();
    Tensor sample = Tensor::empty({sample_rows, width}, DType::f32);
    std::memcpy(sample.data<float>(), rows.features.data<float>(), static_cast<size_t>(sample_rows * width) * sizeof(float));

    for (const int64_t max_bin : {255, 15}) {
        const auto bins = gbdt::fit_bins_on_sample(sample, rows.feature_names, rows.categorical, max_bin);
        const Tensor expected = gbdt::bin_rows(rows.features, bins);
        const BinnedSessionRows binned = bin_session_rows(data, z, gbdt::RowBinner(bins));
        EXPECT_EQ(binned.rows.feature_names, rows.feature_names);
        EXPECT_EQ(binned.rows.categorical, rows.categorical);
        EXPECT_EQ(binned.rows.category_names, rows.category_names);
        EXPECT_EQ(binned.rows.session_index, rows.session_index);
        EXPECT_EQ(binned.rows.position, rows.position);
        ASSERT_EQ(binned.rows.labels.numel(), rows.labels.numel());
        EXPECT_EQ(std::memcmp(binned.rows.labels.data<float>(), rows.labels.data<float>(),
                              static_cast<size_t>(rows.rows()) * sizeof(float)),
                  0);
        ASSERT_EQ(binned.bins.size(0), rows.rows());
        ASSERT_EQ(binned.bins.size(1), width);
        const uint8_t* got = binned.bins.data<uint8_t>();
        const uint8_t* want = expected.data<uint8_t>();
        int64_t missing = 0;
        for (int64_t r = 0; r < rows.rows(); ++r)
            for (int64_t f = 0; f < width; ++f) {
                ASSERT_EQ(got[r * width + f], want[r * width + f])
                    << "max_bin " << max_bin << " row " << r << " feature " << rows.feature_names[static_cast<size_t>(f)];
                missing += want[r * width + f] == bins[static_cast<size_t>(f)].missing_bin();
            }
        EXPECT_GT(missing, 0) << "missing values and unseen categories were binned";
    }
}

}  // namespace
}  // namespace skipper::data
