// The LSTM's sequences in the dataset cache: written file by file, they equal
// the in-memory builder's on the same sessions (columns, values, masks, split
// and standardisation, bit for bit), so the LSTM trained from the cache and
// from the CSV files are the same model byte for byte; a cache without them,
// or a stale, truncated or corrupt one, is refused with a clear error.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "../tools/tools_test_util.h"
#include "engine/error.h"
#include "trainer/data/dataset_cache.h"
#include "trainer/data/features.h"
#include "trainer/data/generator.h"
#include "trainer/data/ingest.h"
#include "trainer/data/layout.h"
#include "trainer/data/mssd_files.h"
#include "trainer/data/sequence_cache.h"
#include "trainer/data/split.h"
#include "trainer/lstm/lstm.h"

namespace skipper::data {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

struct InMemory {
    SequenceDataset train, test;
};

// The CSV path: every file read into memory, the sequences built on the whole,
// split by session hash as the ingest splits.
InMemory in_memory(const GeneratedLayout& layout, const IngestOptions& options) {
    const MssdData mssd = load_mssd_files(layout.log_paths, layout.track_paths, 1.0, options.read, nullptr);
    const SequenceDataset all = build_session_sequences(mssd);
    std::vector<int64_t> train, test;
    for (int64_t s = 0; s < all.sessions(); ++s)
        (held_out_session(all.session_hash[static_cast<size_t>(s)], options.test_fraction, options.split_seed) ? test : train)
            .push_back(s);
    return {take_sessions(all, train), take_sessions(all, test)};
}

void prepare(const GeneratedLayout& layout, const std::string& path, const IngestOptions& base) {
    SequenceCacheWriter writer(path);
    IngestOptions options = base;
    options.on_window = [&](const MssdData& d, const TrackStandardiser& z, const std::vector<uint64_t>& h,
                            const std::vector<uint8_t>& held) { writer.add_window(d, z, h, held); };
    DatasetCache cache;
    cache.data = ingest_session_rows(layout.log_paths, layout.track_paths, options);
    writer.finish(cache);
    save_dataset_cache(path, cache);
}

void expect_same_bytes(const Tensor& a, const Tensor& b, const char* what) {
    ASSERT_EQ(a.shape(), b.shape()) << what;
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what;
}

class CachedSequences : public ::testing::Test {
protected:
    void SetUp() override {
        GeneratorOptions generator;
        generator.sessions = 700;
        generator.seed = 11;
        layout_ = write_generated_layout(generator, dir_.file("mssd"), 5, false);
        options_.bin_construct_sample_cnt = 1500;
        options_.window_bytes = 16 << 10;  // many windows a file: the sequences are written window by window
        path_ = dir_.file("seq.cache");
        prepare(layout_, path_, options_);
    }
    TempDir dir_;
    GeneratedLayout layout_;
    IngestOptions options_;
    std::string path_;
};

TEST_F(CachedSequences, EqualTheInMemoryBuilderBitForBit) {
    const InMemory memory = in_memory(layout_, options_);
    const SequenceCache cache = load_sequence_cache(load_dataset_cache(path_), path_);
    ASSERT_GT(memory.test.sessions(), 0);
    const std::pair<const SequenceDataset*, const SequenceDataset*> parts[] = {{&memory.train, &cache.train},
                                                                                {&memory.test, &cache.test}};
    for (const auto& [want, got] : parts) {
        EXPECT_EQ(got->feature_names, want->feature_names);
        expect_same_bytes(got->inputs, want->inputs, "inputs");
        expect_same_bytes(got->labels, want->labels, "labels");
        expect_same_bytes(got->step_mask, want->step_mask, "step_mask");
        expect_same_bytes(got->history_mask, want->history_mask, "history_mask");
        expect_same_bytes(got->predict_mask, want->predict_mask, "predict_mask");
        expect_same_bytes(got->track_hash, want->track_hash, "track_hash");
        EXPECT_EQ(got->lengths, want->lengths);
        EXPECT_EQ(got->session_hash, want->session_hash);
    }
    // The standardisation fitted while streaming is the in-memory fit's, bit for bit.
    const lstm::Standardiser fitted = lstm::fit_standardiser(memory.train);
    EXPECT_EQ(cache.standardiser.mean, fitted.mean);
    EXPECT_EQ(cache.standardiser.scale, fitted.scale);
}

TEST_F(CachedSequences, TrainTheSameModelAsTheCsvFiles) {
    LstmParams params;
    params.arch = "session_seq2seq";
    params.hidden_size = 8;
    params.num_layers = 1;
    params.epochs = 3;
    params.batch_size = 32;
    params.dropout = 0.1;
    params.validation_fraction = 0.2;  // held out by session hash, on both paths
    params.num_threads = 2;
    const InMemory memory = in_memory(layout_, options_);
    const SequenceCache cache = load_sequence_cache(load_dataset_cache(path_), path_);
    TrainingLog memory_log, cache_log;
    const auto from_csv = train_lstm(memory.train, nullptr, params, &memory_log).to_bytes();
    const auto from_cache = train_lstm(cache.train, cache.standardiser, nullptr, params, &cache_log).to_bytes();
    EXPECT_EQ(from_csv, from_cache);
    ASSERT_EQ(memory_log.records.size(), cache_log.records.size());
    ASSERT_FALSE(cache_log.records.empty());
    EXPECT_GT(cache_log.records.back().metrics.count("valid_aa"), 0u);
    EXPECT_EQ(memory_log.records.back().metrics, cache_log.records.back().metrics);
    // The other arch too (no encoder offsets), with the hashed track embedding
    // (its rows come from the cache's track_hash).
    params.arch = "session";
    params.track_embedding_dim = 4;
    params.track_embedding_buckets = 256;
    EXPECT_EQ(train_lstm(memory.train, nullptr, params).to_bytes(),
              train_lstm(cache.train, cache.standardiser, nullptr, params).to_bytes());
}

TEST_F(CachedSequences, ReadThroughASmallResidentBudget) {
    // A budget smaller than one batch drops the pages after every batch: the
    // values read are still the file's.
    const SequenceCache cache = load_sequence_cache(load_dataset_cache(path_), path_, 4096);
    const SequenceCache whole = load_sequence_cache(load_dataset_cache(path_), path_);
    LstmParams params;
    params.arch = "session";
    params.hidden_size = 4;
    params.num_layers = 1;
    params.epochs = 1;
    params.batch_size = 16;
    params.num_threads = 1;
    EXPECT_EQ(train_lstm(cache.train, cache.standardiser, nullptr, params).to_bytes(),
              train_lstm(whole.train, whole.standardiser, nullptr, params).to_bytes());
}

TEST_F(CachedSequences, StaleTruncatedCorruptOrMissingAreRefused) {
    const std::string bytes = test::read_text(path_);
    const auto refused = [&](const std::string& file, const std::string& why) {
        try {
            load_sequence_cache(load_dataset_cache(file), file);
            ADD_FAILURE() << "accepted a cache that should fail with '" << why << "'";
        } catch (const DataError& e) {
            EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
        }
    };
    // Cut inside the sequence sections (the file's second half) and at its end.
    for (size_t cut : {bytes.size() / 2, bytes.size() * 3 / 4, bytes.size() - 1}) {
        std::ofstream(dir_.file("cut.cache"), std::ios::binary) << bytes.substr(0, cut);
        refused(dir_.file("cut.cache"), "not a usable dataset cache");
    }
    // A flipped byte in the inputs, the masks or the standardisation's meta.
    for (size_t at : {bytes.size() * 2 / 3, bytes.size() - 200, size_t{600}}) {
        std::string corrupt = bytes;
        corrupt[at] = static_cast<char>(corrupt[at] ^ 0x21);
        std::ofstream(dir_.file("bad.cache"), std::ios::binary) << corrupt;
        refused(dir_.file("bad.cache"), "not a usable dataset cache");
    }
    // A cache of the GBDT's rows alone (as prepared before this change).
    DatasetCache rows_only;
    rows_only.data = ingest_session_rows(layout_.log_paths, layout_.track_paths, options_);
    save_dataset_cache(dir_.file("rows.cache"), rows_only);
    refused(dir_.file("rows.cache"), "holds no LSTM sequences");
    // A source changed since.
    fs::last_write_time(layout_.log_paths[1], fs::last_write_time(layout_.log_paths[1]) + std::chrono::seconds(5));
    refused(path_, "stale");
}

TEST_F(CachedSequences, TrainAndEvalFromTheCommandLine) {
    const std::string cache = dir_.file("cli.cache");
    auto result = test::run_skipper({"prepare", "data=" + dir_.file("mssd"), "task=session", "out=" + cache});
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_NE(result.out.find("lstm sequences"), std::string::npos) << result.out;
    result = test::run_skipper({"train", "lstm", "task=session", "dataset=" + cache, "epochs=2", "hidden_size=8",
                                "num_threads=2", "output_model=" + dir_.file("lstm.bin")});
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_NE(result.out.find("aa = "), std::string::npos) << result.out;
    const std::string trained = result.out.substr(result.out.find("aa = "), 40);
    result = test::run_skipper({"eval", "model=" + dir_.file("lstm.bin"), "dataset=" + cache});
    ASSERT_EQ(result.code, 0) << result.err;
    EXPECT_NE(result.out.find(trained), std::string::npos) << "eval scores the same held-out sessions: " << result.out;
    // The seed task has no sequences in the cache.
    result = test::run_skipper({"train", "lstm", "task=seed", "dataset=" + cache, "output_model=" + dir_.file("x.bin")});
    EXPECT_NE(result.code, 0);
}

}  // namespace
}  // namespace skipper::data
