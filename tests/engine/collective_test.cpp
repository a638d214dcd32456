// engine/collective.h, trainer/data_parallel.h and the reduced metrics: on one
// process (always), and on three ranks under mpirun (where MPI is built): the
// Collective3Ranks tests run only in the copies of this program that
// Collective.ThreeRanksUnderMpirun starts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/collective.h"
#include "tests/tools/tools_test_util.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/ingest.h"
#include "trainer/data/layout.h"
#include "trainer/data/split.h"
#include "trainer/data_parallel.h"
#include "trainer/metrics/reduced_metrics.h"

namespace skipper {
namespace {

constexpr const char* kChildVariable = "SKIPPER_COLLECTIVE_TEST_CHILD";

TEST(Collective, OneProcessIsTheIdentity) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    EXPECT_EQ(collective::rank(), 0);
    EXPECT_EQ(collective::size(), 1);
    std::vector<int64_t> ints = {3, -4};
    collective::allreduce_sum(std::span(ints));
    EXPECT_EQ(ints, (std::vector<int64_t>{3, -4}));
    std::vector<int64_t> block(2);
    collective::reduce_scatter_sum(ints, block);
    EXPECT_EQ(block, ints);
    std::vector<uint8_t> bytes = {1, 2, 3};
    const auto parts = collective::gather(bytes);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0], bytes);
    EXPECT_EQ(rank_share(10).begin, 0);
    EXPECT_EQ(rank_share(10).end, 10);
    Context ctx;
    Tensor g = Tensor::from_vector<float>({1.5f, -2.0f}, {2});
    const GlobalLoss global = sum_gradients(ctx, g, 0.25, 7.0);
    EXPECT_EQ(global.loss, 0.25);
    EXPECT_EQ(global.weight, 7.0);
    EXPECT_EQ(g.to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
}

// A few sessions of `width` random values each (a NaN now and then, one
// categorical column of small codes), keyed as the ingest keys them.
struct SampleSession {
    std::string id;
    std::vector<float> rows;
};
constexpr int64_t kSampleWidth = 3;
std::vector<SampleSession> sample_sessions(int count) {
    std::mt19937 rng(11);
    std::normal_distribution<float> value(0.0f, 2.0f);
    std::vector<SampleSession> out;
    for (int s = 0; s < count; ++s) {
        SampleSession session{"session-" + std::to_string(s), {}};
        const int rows = 1 + s % 7;
        for (int r = 0; r < rows; ++r) {
            session.rows.push_back(r % 5 == 3 ? NAN : value(rng));
            session.rows.push_back(std::round(value(rng) * 10.0f));
            session.rows.push_back(static_cast<float>((s + r) % 4));  // categorical
        }
        out.push_back(std::move(session));
    }
    return out;
}

data::TabularDataset sample_schema() {
    data::TabularDataset schema;
    schema.feature_names = {"x", "count", "kind"};
    schema.categorical = {false, false, true};
    return schema;
}

void add_session(data::BinSample& sample, const SampleSession& session) {
    sample.add(data::session_hash(session.id), session.id, session.rows, kSampleWidth);
}

TEST(Collective, OneProcessReadsEverythingAndFitsItsOwnSample) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    const std::vector<std::string> logs = {"a.csv", "b.csv"};
    const InputShare share = input_share(logs);
    EXPECT_EQ(share.logs, logs);
    EXPECT_EQ(share.session_shards, 1);
    data::BinSample sample(40);
    for (const auto& session : sample_sessions(50)) add_session(sample, session);
    EXPECT_EQ(agree_session_row_bins(sample, sample_schema(), 8), data::fit_session_row_bins(sample, sample_schema(), 8));
    const ops::GradientExtent extent = max_extent({0.25, 0.5});
    EXPECT_EQ(extent.max_abs_gradient, 0.25);
    EXPECT_EQ(extent.max_hessian, 0.5);
}

TEST(Collective, OneProcessExchangesItsBlockWithItself) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    const collective::RankBlocks send{{4, 5, 6}, {0, 3}};
    const collective::RankBlocks got = collective::alltoallv(send);
    EXPECT_EQ(got.bytes, send.bytes);
    EXPECT_EQ(got.offsets, send.offsets);
    EXPECT_EQ(std::vector<uint8_t>(got.block(0).begin(), got.block(0).end()), send.bytes);
    EXPECT_THROW(collective::alltoallv({{4, 5, 6}, {0, 2}}), Error);     // offsets short of the bytes
    EXPECT_THROW(collective::alltoallv({{4, 5, 6}, {0, 1, 3}}), Error);  // two blocks for one rank
}

// The owner's side of the spanning check, on plain places from three ranks.
TEST(Collective, OwnerFindsTheSessionsSeenFromTwoFiles) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    const std::vector<SessionPlace> places = {
        {7, 0, 0}, {9, 1, 0}, {3, 2, 1}, {7, 2, 0},  // 7: rank 0's file 0 and rank 2's file 0
        {5, 0, 1}, {5, 0, 1},                        // 5: twice from one file, not a split
        {3, 0, 0}, {4, 1, 1}, {3, 1, 2},             // 3: three files of three ranks
        {8, 1, 0}, {8, 1, 3},                        // 8: two files of one rank
    };
    const auto spanning = sessions_in_two_files(places);
    ASSERT_EQ(spanning.size(), 3u);
    EXPECT_EQ(spanning[0], (std::vector<SessionPlace>{{3, 0, 0}, {3, 1, 2}, {3, 2, 1}}));
    EXPECT_EQ(spanning[1], (std::vector<SessionPlace>{{7, 0, 0}, {7, 2, 0}}));
    EXPECT_EQ(spanning[2], (std::vector<SessionPlace>{{8, 1, 0}, {8, 1, 3}}));
    EXPECT_TRUE(sessions_in_two_files({{1, 0, 0}, {2, 0, 1}, {3, 1, 0}, {2, 0, 1}}).empty());
    EXPECT_TRUE(sessions_in_two_files({}).empty());
}

// A log of the given sessions, each `rows` lines, with a column before the id.
void write_log(const std::string& path, const std::vector<std::string>& sessions, int rows = 3) {
    std::ofstream out(path, std::ios::binary);
    out << "row,session_id,session_position\n";
    int row = 0;
    for (const auto& id : sessions)
        for (int r = 1; r <= rows; ++r) out << row++ << "," << id << "," << r << "\n";
}

TEST(Collective, OneProcessChecksItsFilesAndReportsASessionInTwo) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    test::TempDir dir;
    const std::vector<std::string> logs = {dir.file("log_a.csv"), dir.file("log_b.csv")};
    write_log(logs[0], {"s1", "s2", "s3"});
    write_log(logs[1], {"s4", "s2", "s5"});
    // The exchange with itself finds nothing in files that share no session.
    data::HashIndex<uint32_t> file_of;
    for (const char* id : {"s1", "s2", "s3"}) file_of.try_emplace(data::session_hash(id), 0);
    for (const char* id : {"s4", "s5"}) file_of.try_emplace(data::session_hash(id), 1);
    EXPECT_NO_THROW(require_sessions_in_one_file(file_of, logs, 1 << 16));
    // s2 in both, the later file listed first: reported at its first line in
    // the second file in path order, naming the first, as one process does.
    const uint64_t hash = data::session_hash("s2");
    try {
        report_session_in_two_files({{hash, 0, 1}, {hash, 0, 0}}, logs, 1 << 16);
        FAIL() << "a session in two files was not reported";
    } catch (const DataError& e) {
        EXPECT_EQ(e.file(), logs[1]);
        EXPECT_EQ(e.line(), 5);
        EXPECT_EQ(std::string(e.what()),
                  data::spanning_session_error(logs[1], 5, "s2", logs[0]).what());
    }
}

TEST(Collective, RankRowsKeepTheirKeys) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    gbdt::BinnedDataset all;
    all.feature_names = {"a", "b"};
    all.categorical = {false, false};
    all.bins = Tensor::from_vector<uint8_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {5, 2});
    all.labels = Tensor::from_vector<float>({0, 1, 1, 0, 1}, {5});
    all.session_index = {0, 0, 1, 1, 2};
    all.position = {1, 2, 1, 2, 1};
    const gbdt::BinnedDataset part = take_rank_rows(all, {1, 4});
    EXPECT_EQ(part.bins.to_vector<uint8_t>(), (std::vector<uint8_t>{2, 3, 4, 5, 6, 7}));
    EXPECT_EQ(part.labels.to_vector<float>(), (std::vector<float>{1, 1, 0}));
    EXPECT_EQ(part.session_index, (std::vector<int32_t>{0, 1, 1}));
    EXPECT_EQ(part.position, (std::vector<int32_t>{2, 1, 2}));
    // Without keys, a row's key is its index in the whole set.
    EXPECT_EQ(part.row_keys, (std::vector<uint64_t>{1, 2, 3}));
    all.row_keys = {50, 51, 52, 53, 54};
    EXPECT_EQ(take_rank_rows(all, {3, 5}).row_keys, (std::vector<uint64_t>{53, 54}));
    EXPECT_EQ(take_rank_rows(all, {2, 2}).rows(), 0);
}

// One process: its items' places are their order by key; a key repeated is refused.
TEST(Collective, OneProcessPlacesItsItemsByKey) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    const ItemPlaces places = place_items({30, 10, 20}, {3, 1, 2});
    EXPECT_EQ(places.total, 3);
    EXPECT_EQ(places.place, (std::vector<int64_t>{2, 0, 1}));
    EXPECT_EQ(places.hashes, (std::vector<uint64_t>{1, 2, 3}));
    EXPECT_THROW(place_items({5, 5}, {1, 2}), Error);
    EXPECT_THROW(place_items({5}, {1, 2}), Error);
    std::vector<int64_t> mine;
    EXPECT_THROW(take_places(places, {1, 0}, mine), Error) << "the chosen must ascend";
}

TEST(Collective, ThreeRanksUnderMpirun) {
    if (std::getenv(kChildVariable) != nullptr) GTEST_SKIP() << "a rank of the mpirun test";
    if (!collective::built_with_mpi()) GTEST_SKIP() << "built without MPI";
    // A rank that fails before a collective would leave the others waiting: timeout ends them.
    const std::string command = std::string(kChildVariable) + "=1 timeout 60 " + SKIPPER_MPIEXEC +
                                " --allow-run-as-root --oversubscribe --mca btl self,vader --mca mpi_yield_when_idle 1" +
                                " -np 3 /proc/" +
                                std::to_string(getpid()) + "/exe --gtest_filter='Collective3Ranks.*' 2>&1";
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << command;
}

class Collective3Ranks : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (std::getenv(kChildVariable) == nullptr) return;
        static int argc = 1;
        static char name[] = "collective_test";
        static char* args[] = {name, nullptr};
        static char** argv = args;
        static const collective::Session session(argc, argv);
    }
    void SetUp() override {
        if (std::getenv(kChildVariable) == nullptr) GTEST_SKIP() << "runs under mpirun only";
        ASSERT_EQ(collective::size(), 3);
    }
};

TEST_F(Collective3Ranks, SumsMaximaAndBlocks) {
    const int64_t r = collective::rank();
    std::vector<int64_t> ints = {r, 10 * r + 1};
    collective::allreduce_sum(std::span(ints));
    EXPECT_EQ(ints, (std::vector<int64_t>{3, 33}));
    std::vector<double> doubles = {0.5 * static_cast<double>(r)};
    collective::allreduce_max(std::span(doubles));
    EXPECT_EQ(doubles[0], 1.0);
    std::vector<float> floats = {1.0f};
    collective::allreduce_sum(std::span(floats));
    EXPECT_EQ(floats[0], 3.0f);
    // Reduce-scatter then allgather is an allreduce.
    std::vector<int64_t> values(6), block(2), gathered(6);
    for (int64_t i = 0; i < 6; ++i) values[static_cast<size_t>(i)] = (r + 1) * (i + 1);
    collective::reduce_scatter_sum(values, block);
    EXPECT_EQ(block[0], 6 * (2 * r + 1));
    collective::allgather(block, gathered);
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(gathered[static_cast<size_t>(i)], 6 * (i + 1));
}

TEST_F(Collective3Ranks, BroadcastAndGatherOfBytes) {
    const int r = collective::rank();
    std::vector<uint8_t> bytes;
    if (r == 1) bytes = {7, 8, 9};
    collective::broadcast(bytes, 1);
    EXPECT_EQ(bytes, (std::vector<uint8_t>{7, 8, 9}));
    const std::vector<uint8_t> mine(static_cast<size_t>(r), static_cast<uint8_t>(r));
    const auto parts = collective::gather(mine);
    if (r == 0) {
        ASSERT_EQ(parts.size(), 3u);
        for (size_t i = 0; i < 3; ++i) EXPECT_EQ(parts[i], std::vector<uint8_t>(i, static_cast<uint8_t>(i)));
    } else {
        EXPECT_TRUE(parts.empty());
    }
    collective::barrier();
}

TEST_F(Collective3Ranks, AlltoallvDeliversEachBlockToItsRank) {
    const int r = collective::rank();
    // Rank r sends r + t bytes of value 10 r + t to rank t (rank 0 sends none to itself).
    collective::RankBlocks send;
    send.offsets.push_back(0);
    for (int t = 0; t < 3; ++t) {
        send.bytes.insert(send.bytes.end(), static_cast<size_t>(r + t), static_cast<uint8_t>(10 * r + t));
        send.offsets.push_back(static_cast<int64_t>(send.bytes.size()));
    }
    const collective::RankBlocks got = collective::alltoallv(send);
    ASSERT_EQ(got.offsets.size(), 4u);
    for (int from = 0; from < 3; ++from) {
        const auto block = got.block(from);
        EXPECT_EQ(std::vector<uint8_t>(block.begin(), block.end()),
                  std::vector<uint8_t>(static_cast<size_t>(from + r), static_cast<uint8_t>(10 * from + r)));
    }
}

// Each rank reads its own file; one session is in rank 0's file and rank 2's:
// its owner finds it and rank 2, holding the later file, reports it.
TEST_F(Collective3Ranks, ASessionInFilesOfTwoRanksIsReportedOnce) {
    const int r = collective::rank();
    std::unique_ptr<test::TempDir> dir;
    std::vector<uint8_t> folder;
    if (r == 0) {
        dir = std::make_unique<test::TempDir>();
        const std::string path = dir->file("");
        folder.assign(path.begin(), path.end());
    }
    collective::broadcast(folder);
    const std::string log = std::string(folder.begin(), folder.end()) + "log_" + std::to_string(r) + ".csv";
    std::vector<std::string> ids;
    for (int s = 0; s < 40; ++s) ids.push_back("r" + std::to_string(r) + "-" + std::to_string(s));
    data::HashIndex<uint32_t> file_of;
    for (const auto& id : ids) file_of.try_emplace(data::session_hash(id), 0);
    // Clean: every session in one file.
    write_log(log, ids);
    EXPECT_NO_THROW(require_sessions_in_one_file(file_of, {log}, 1 << 16));
    if (r == 2) {
        ids.insert(ids.begin() + 7, "r0-13");
        file_of.try_emplace(data::session_hash("r0-13"), 0);
    }
    write_log(log, ids);
    collective::barrier();
    if (r == 2) {
        const std::string first = std::string(folder.begin(), folder.end()) + "log_0.csv";
        try {
            require_sessions_in_one_file(file_of, {log}, 1 << 16);
            ADD_FAILURE() << "the session in two ranks' files was not reported";
        } catch (const DataError& e) {
            EXPECT_EQ(std::string(e.what()), data::spanning_session_error(log, 2 + 7 * 3, "r0-13", first).what());
        }
    } else {
        EXPECT_NO_THROW(require_sessions_in_one_file(file_of, {log}, 1 << 16));
    }
    collective::barrier();
}

TEST_F(Collective3Ranks, SharesPartitionTheItemsWithoutSplittingRuns) {
    std::vector<int64_t> bounds = {rank_share(10).begin, rank_share(10).end};
    std::vector<int64_t> all(6);
    collective::allgather(bounds, all);
    EXPECT_EQ(all, (std::vector<int64_t>{0, 4, 4, 7, 7, 10}));
    EXPECT_EQ(largest_rank_share(10), 4);
    const std::vector<int32_t> sessions = {0, 0, 0, 1, 1, 2, 2, 2, 3, 3};
    const RankShare share = rank_share_of_runs(sessions, 10);
    bounds = {share.begin, share.end};
    collective::allgather(bounds, all);
    EXPECT_EQ(all, (std::vector<int64_t>{0, 5, 5, 8, 8, 10}));
}

TEST_F(Collective3Ranks, InputSharesHoldEveryFileOrSessionOnce) {
    const int64_t r = collective::rank();
    // 7 files: files k/3, each read by one rank.
    std::vector<std::string> logs;
    for (int i = 0; i < 7; ++i) logs.push_back("log_" + std::to_string(i) + ".csv");
    const InputShare by_file = input_share(logs);
    EXPECT_EQ(by_file.session_shards, 1);
    std::vector<int64_t> readers(7, 0);
    for (const auto& path : by_file.logs) ++readers[static_cast<size_t>(path[4] - '0')];
    collective::allreduce_sum(std::span(readers));
    EXPECT_EQ(readers, std::vector<int64_t>(7, 1));
    EXPECT_EQ(by_file.logs.front(), logs[static_cast<size_t>(r)]);
    // 2 files: every rank reads both and keeps its sessions by hash.
    const InputShare by_session = input_share({"a.csv", "b.csv"});
    EXPECT_EQ(by_session.logs.size(), 2u);
    ASSERT_EQ(by_session.session_shards, 3);
    EXPECT_EQ(by_session.session_shard, r);
    std::vector<int64_t> owners(3000, 0);
    int64_t mine = 0;
    for (size_t s = 0; s < owners.size(); ++s) {
        const bool in = in_session_shard(data::session_hash("s" + std::to_string(s)), r, 3);
        owners[s] = in ? 1 : 0;
        mine += in ? 1 : 0;
    }
    collective::allreduce_sum(std::span(owners));
    EXPECT_EQ(owners, std::vector<int64_t>(3000, 1));
    EXPECT_NEAR(static_cast<double>(mine), 1000.0, 120.0);  // about a third each
}

// Each rank samples its own sessions: the agreed edges are the edges of one
// sample of every session, on every rank; the maxima of the extents too.
TEST_F(Collective3Ranks, AgreedBinEdgesAreTheEdgesOfEverySession) {
    const int r = collective::rank();
    const auto sessions = sample_sessions(90);
    data::BinSample all(60), mine(60);  // smaller than the data: the merge trims
    for (size_t s = 0; s < sessions.size(); ++s) {
        add_session(all, sessions[s]);
        if (static_cast<int>(s % 3) == r) add_session(mine, sessions[s]);
    }
    const auto agreed = agree_session_row_bins(mine, sample_schema(), 6);
    EXPECT_EQ(agreed, data::fit_session_row_bins(all, sample_schema(), 6));
    EXPECT_NE(agreed, data::fit_session_row_bins(mine, sample_schema(), 6)) << "a rank's own sample is not all";
    const ops::GradientExtent extent = max_extent({0.1 * (r + 1), 0.3 - 0.1 * r});
    EXPECT_DOUBLE_EQ(extent.max_abs_gradient, 0.3);
    EXPECT_DOUBLE_EQ(extent.max_hessian, 0.3);
    std::vector<int64_t> counts = {r, 1};
    sum_counts(counts);
    EXPECT_EQ(counts, (std::vector<int64_t>{3, 3}));
}

// Every rank builds the same rows and scores its share: the reduced figures
// are the figures of all rows (AUC and counts exactly).
TEST_F(Collective3Ranks, ReducedMetricsEqualTheMetricsOfAllRows) {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    const int64_t n = 1001;
    std::vector<float> labels(n), scores(n);
    for (int64_t i = 0; i < n; ++i) {
        labels[static_cast<size_t>(i)] = uniform(rng) < 0.4f ? 1.0f : 0.0f;
        // Coarse scores: many ties across ranks.
        scores[static_cast<size_t>(i)] = std::round(uniform(rng) * 20.0f) / 20.0f;
    }
    const RankShare share = rank_share(n);
    const std::span<const float> my_labels = std::span<const float>(labels).subspan(
        static_cast<size_t>(share.begin), static_cast<size_t>(share.count()));
    const std::span<const float> my_scores = std::span<const float>(scores).subspan(
        static_cast<size_t>(share.begin), static_cast<size_t>(share.count()));
    EXPECT_EQ(metrics::reduced_roc_auc(my_labels, my_scores), metrics::roc_auc(labels, scores));
    const auto confusion = metrics::reduced_confusion_matrix(my_labels, my_scores);
    const auto want = metrics::confusion_matrix(labels, scores);
    EXPECT_EQ(confusion.true_positive, want.true_positive);
    EXPECT_EQ(confusion.false_positive, want.false_positive);
    EXPECT_EQ(confusion.true_negative, want.true_negative);
    EXPECT_EQ(confusion.false_negative, want.false_negative);
    EXPECT_NEAR(metrics::reduced_log_loss(my_labels, my_scores), metrics::log_loss(labels, scores), 1e-12);
    // Sessions of 4 rows; each rank scores whole sessions.
    std::vector<int32_t> session(n), position(n);
    for (int64_t i = 0; i < n; ++i) {
        session[static_cast<size_t>(i)] = static_cast<int32_t>(i / 4);
        position[static_cast<size_t>(i)] = static_cast<int32_t>(i % 4);
    }
    const RankShare runs = rank_share_of_runs(session, n);
    const auto part = [&](const auto& v) {
        return std::span(v).subspan(static_cast<size_t>(runs.begin), static_cast<size_t>(runs.count()));
    };
    const auto mine = metrics::session_scores(part(session), part(position), part(labels), part(scores));
    const auto all = metrics::session_scores(session, position, labels, scores);
    const auto reduced = metrics::reduced_session_scores(mine);
    EXPECT_EQ(reduced.sessions, all.sessions);
    EXPECT_EQ(reduced.first_prediction_accuracy, all.first_prediction_accuracy);
    EXPECT_NEAR(reduced.mean_average_accuracy, all.mean_average_accuracy, 1e-12);
}

// Each rank holds every third of 20 items (keys in one process's order): the
// places are the one-process indices, the hashes every rank's in that order;
// a subset keeps its own order; the standardiser of every rank's sessions is
// one process's up to the order of the sums.
TEST_F(Collective3Ranks, ItemsArePlacedInOneProcesssOrder) {
    const int r = collective::rank();
    std::vector<uint64_t> keys, hashes;
    std::vector<int64_t> held;
    for (int64_t g = 0; g < 20; ++g)
        if (g % 3 == r) {
            keys.push_back(static_cast<uint64_t>(g) << 32 | 7);
            hashes.push_back(static_cast<uint64_t>(1000 + g));
            held.push_back(g);
        }
    const ItemPlaces places = place_items(keys, hashes);
    EXPECT_EQ(places.total, 20);
    EXPECT_EQ(places.place, held);
    for (int64_t g = 0; g < 20; ++g) EXPECT_EQ(places.hashes[static_cast<size_t>(g)], static_cast<uint64_t>(1000 + g));
    const std::vector<int64_t> chosen = {1, 2, 5, 8, 13, 19};
    std::vector<int64_t> mine;
    const ItemPlaces subset = take_places(places, chosen, mine);
    EXPECT_EQ(subset.total, 6);
    std::vector<int64_t> want_place, want_mine;
    for (size_t p = 0; p < chosen.size(); ++p)
        if (chosen[p] % 3 == r) {
            want_place.push_back(static_cast<int64_t>(p));
            want_mine.push_back(chosen[p] / 3);  // this rank's items are g = 3 i + r
        }
    EXPECT_EQ(subset.place, want_place);
    EXPECT_EQ(mine, want_mine);
    EXPECT_EQ(subset.hashes, (std::vector<uint64_t>{1001, 1002, 1005, 1008, 1013, 1019}));

    data::GeneratorOptions options;
    options.sessions = 40;
    const data::SequenceDataset all = data::build_session_sequences(data::generate_mssd(options));
    std::vector<int64_t> my_sessions;
    for (int64_t s = r; s < all.sessions(); s += 3) my_sessions.push_back(s);
    const lstm::Standardiser reduced = fit_standardiser_over_ranks(data::take_sessions(all, my_sessions));
    const lstm::Standardiser whole = lstm::fit_standardiser(all);
    ASSERT_EQ(reduced.mean.size(), whole.mean.size());
    for (size_t f = 0; f < whole.mean.size(); ++f) {
        EXPECT_NEAR(reduced.mean[f], whole.mean[f], 1e-12 * std::max(1.0, std::fabs(whole.mean[f]))) << f;
        EXPECT_NEAR(reduced.scale[f], whole.scale[f], 1e-9 * whole.scale[f]) << f;
    }
    const lstm::Standardiser own = lstm::fit_standardiser(data::take_sessions(all, my_sessions));
    EXPECT_NE(own.mean, whole.mean) << "a rank's own sessions are not all";
}

// Each rank's gradient of its mean loss, weighted by its share of the batch
// weight and summed: the gradient of the batch's mean loss.
TEST_F(Collective3Ranks, SumGradientsWeighsEachRankByItsLossWeight) {
    const double r = collective::rank();
    Context ctx;
    Tensor g = Tensor::from_vector<double>({r + 1.0, -2.0 * r}, {2});
    const double weight = r == 2 ? 0.0 : r + 1.0;  // rank 2's share holds no weighted position
    const GlobalLoss global = sum_gradients(ctx, g, r == 2 ? 0.0 : 0.5 * (r + 1.0), weight);
    EXPECT_DOUBLE_EQ(global.weight, 3.0);
    EXPECT_DOUBLE_EQ(global.loss, (1.0 * 0.5 + 2.0 * 1.0) / 3.0);
    const auto sum = g.to_vector<double>();
    EXPECT_DOUBLE_EQ(sum[0], (1.0 * 1.0 + 2.0 * 2.0) / 3.0);
    EXPECT_DOUBLE_EQ(sum[1], (1.0 * 0.0 + 2.0 * -2.0) / 3.0);
}

}  // namespace
}  // namespace skipper
