#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "engine/error.h"
#include "engine/serialize.h"
#include "tests/test_util.h"

namespace skipper {
namespace {

ModelFile small_model() {
    ModelFile m;
    m.metadata["learner"] = "gbdt";
    m.metadata["feature_names"] = "a,b,c";
    m.metadata["empty"] = "";
    m.tensors["weights"] = Tensor::from_vector<float>({1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1e-3f}, {2, 3});
    m.tensors["counts"] = Tensor::from_vector<int32_t>({4, 5, 6}, {3});
    m.tensors["bins"] = Tensor::from_vector<uint8_t>({255, 0}, {2});
    m.tensors["none"] = Tensor::empty({0, 4}, DType::f64);
    return m;
}

void expect_equal(const ModelFile& a, const ModelFile& b) {
    EXPECT_EQ(a.metadata, b.metadata);
    ASSERT_EQ(a.tensors.size(), b.tensors.size());
    for (const auto& [name, t] : a.tensors) {
        const Tensor& u = b.tensor(name);
        EXPECT_EQ(t.dtype(), u.dtype()) << name;
        EXPECT_EQ(t.shape(), u.shape()) << name;
        EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << name;
    }
}

TEST(Serialize, RoundTripInMemory) {
    const ModelFile m = small_model();
    expect_equal(m, deserialize_model(serialize_model(m), "memory"));
}

TEST(Serialize, SerializationIsDeterministic) {
    EXPECT_EQ(serialize_model(small_model()), serialize_model(small_model()));
}

TEST(Serialize, EveryTruncationIsRefused) {
    const std::vector<uint8_t> bytes = serialize_model(small_model());
    for (size_t length = 0; length < bytes.size(); ++length) {
        const std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(length));
        EXPECT_THROW(deserialize_model(cut, "cut"), FormatError) << "truncated to " << length << " bytes";
    }
}

TEST(Serialize, EverySingleByteFlipIsRefused) {
    const std::vector<uint8_t> bytes = serialize_model(small_model());
    for (size_t offset = 0; offset < bytes.size(); ++offset) {
        for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
            std::vector<uint8_t> flipped = bytes;
            flipped[offset] ^= mask;
            EXPECT_THROW(deserialize_model(flipped, "flipped"), FormatError) << "offset " << offset;
        }
    }
}

TEST(Serialize, ForeignFilesAreRefusedWithAClearError) {
    const std::string text = "session_id,session_position\n1,2\n";
    try {
        deserialize_model(std::vector<uint8_t>(text.begin(), text.end()), "log.csv");
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("log.csv"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("not a Skipper model file"), std::string::npos);
    }
    EXPECT_THROW(deserialize_model({}, "empty"), FormatError);
}

TEST(Serialize, UnknownVersionIsNamed) {
    std::vector<uint8_t> bytes = serialize_model(small_model());
    bytes[8] = 99;  // the version field follows the 8-byte magic
    try {
        deserialize_model(bytes, "future.skm");
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("version 99"), std::string::npos);
    }
}

TEST(Serialize, FileSaveIsAtomicAndReplacesTheOldFile) {
    const std::filesystem::path dir = std::filesystem::path(test::scratch_path("dir"));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "model.skm").string();
    ModelFile first = small_model();
    save_model_file(path, first);
    ModelFile second = small_model();
    second.metadata["learner"] = "lstm";
    save_model_file(path, second);
    expect_equal(second, load_model_file(path));
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        EXPECT_EQ(entry.path().filename(), "model.skm") << "a temporary file was left behind";
    EXPECT_THROW(load_model_file((dir / "missing.skm").string()), FormatError);
    // A directory that does not exist: the error names the path and nothing is written.
    EXPECT_THROW(save_model_file((dir / "no" / "such" / "m.skm").string(), first), Error);
    std::filesystem::remove_all(dir);
}

TEST(Serialize, MissingEntriesAreNamed) {
    const ModelFile m = small_model();
    EXPECT_THROW(m.meta("num_trees"), Error);
    EXPECT_THROW(m.tensor("leaves"), Error);
}

std::vector<uint8_t> counting_bytes(size_t size) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    return bytes;
}

TEST(StreamChecksum, PiecesOfAnySizeGiveTheDigestOfTheWhole) {
    const std::vector<uint8_t> bytes = counting_bytes(1000);
    const uint64_t whole = checksum64(bytes.data(), bytes.size());
    for (const size_t piece : {size_t{1}, size_t{3}, size_t{31}, size_t{32}, size_t{33}, size_t{64}, size_t{999}}) {
        StreamChecksum fed;
        for (size_t at = 0; at < bytes.size(); at += piece) {
            fed.update(bytes.data() + at, std::min(piece, bytes.size() - at));
            fed.update(nullptr, 0);
        }
        EXPECT_EQ(fed.digest(), whole) << "pieces of " << piece;
    }
}

TEST(StreamChecksum, EverySingleBitFlipGivesADifferentDigest) {
    std::vector<uint8_t> bytes = counting_bytes(300);
    std::set<uint64_t> digests{checksum64(bytes.data(), bytes.size())};
    for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
        bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_TRUE(digests.insert(checksum64(bytes.data(), bytes.size())).second) << "bit " << bit;
        bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    }
}

TEST(StreamChecksum, TrailingZerosAndSwappedWordsChangeTheDigest) {
    const std::vector<uint8_t> zeros(80, 0);
    std::set<uint64_t> digests;
    for (size_t size = 0; size <= zeros.size(); ++size)
        EXPECT_TRUE(digests.insert(checksum64(zeros.data(), size)).second) << size << " zero bytes";
    std::vector<uint8_t> bytes = counting_bytes(64), swapped = bytes;
    std::swap_ranges(swapped.begin(), swapped.begin() + 8, swapped.begin() + 32);  // the same lane, two stripes
    EXPECT_NE(checksum64(bytes.data(), bytes.size()), checksum64(swapped.data(), swapped.size()));
}

TEST(StreamChecksum, DigestIsPinnedBecauseFilesStoreIt) {
    // Changing the algorithm changes the dataset cache's format: bump
    // kDatasetCacheVersion with this value.
    const std::vector<uint8_t> bytes = counting_bytes(100);
    EXPECT_EQ(checksum64(bytes.data(), bytes.size()), 0x4b076072da6b467bull);
}

}  // namespace
}  // namespace skipper
