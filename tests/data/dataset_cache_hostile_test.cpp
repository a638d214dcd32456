// The dataset cache loader against hostile files: a small valid cache is
// written by save_dataset_cache, taken apart into its sections, one field is
// changed, and the file is written again with every checksum recomputed (as an
// attacker would): the loader must refuse it with a DataError naming the
// problem, never crash or allocate more than the file holds.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/serialize.h"
#include "tests/test_util.h"
#include "trainer/data/dataset_cache.h"

namespace skipper::data {
namespace {

using nlohmann::json;

// Two features (numeric with 3 value bins, categorical with 2) and 3 + 2 rows.
gbdt::BinnedDataset part(const std::vector<uint8_t>& bins, const std::vector<float>& labels,
                         const std::vector<int32_t>& sessions) {
    gbdt::BinnedDataset d;
    d.feature_names = {"x", "c"};
    d.categorical = {false, true};
    d.category_names = {{}, {"a", "b", "c"}};
    gbdt::FeatureBins numeric, categorical;
    numeric.upper_bounds = {0.5, 1.5, std::numeric_limits<double>::infinity()};
    categorical.categorical = true;
    categorical.bin_category = {0, 2};
    categorical.category_bin = {0, -1, 1};
    d.feature_bins = {numeric, categorical};
    const auto rows = static_cast<int64_t>(labels.size());
    d.bins = Tensor::from_vector<uint8_t>(bins, {rows, 2});
    d.labels = Tensor::from_vector<float>(labels, {rows});
    d.session_index = sessions;
    for (size_t i = 0; i < labels.size(); ++i) d.position.push_back(static_cast<int32_t>(i) + 1);
    for (size_t i = 0; i < labels.size(); ++i) d.row_keys.push_back(1000 + i);
    return d;
}

std::string temp_file(const std::string& name) { return test::scratch_path(name); }

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A cache as its named sections, in file order, and the writer that lays them
// out again (64-byte header, section table, sections on 64-byte boundaries)
// with the file size and every checksum recomputed.
struct Sections {
    std::vector<std::pair<std::string, std::string>> list;

    static Sections parse(const std::string& file) {
        Sections out;
        uint32_t count = 0;
        std::memcpy(&count, file.data() + 12, 4);
        for (uint32_t i = 0; i < count; ++i) {
            const char* e = file.data() + 64 + i * 48;
            uint64_t offset = 0, bytes = 0;
            std::memcpy(&offset, e + 24, 8);
            std::memcpy(&bytes, e + 32, 8);
            out.list.emplace_back(std::string(e, strnlen(e, 24)), file.substr(offset, bytes));
        }
        return out;
    }
    std::string& at(const std::string& name) {
        for (auto& [n, bytes] : list)
            if (n == name) return bytes;
        throw std::runtime_error("no section " + name);
    }
    std::string write() const {
        auto align = [](size_t n) { return (n + 63) / 64 * 64; };
        std::string table;
        size_t offset = align(64 + list.size() * 48);
        std::vector<size_t> offsets;
        for (const auto& [name, bytes] : list) {
            std::string entry(24, '\0');
            std::memcpy(entry.data(), name.data(), std::min<size_t>(name.size(), 23));
            const uint64_t fields[3] = {offset, bytes.size(),
                                        checksum64(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())};
            entry.append(reinterpret_cast<const char*>(fields), 24);
            table += entry;
            offsets.push_back(offset);
            offset = align(offset + bytes.size());
        }
        std::string file(offset, '\0');
        std::memcpy(file.data(), "SKPCACHE", 8);
        const uint32_t version = kDatasetCacheVersion, count = static_cast<uint32_t>(list.size());
        const uint64_t size = file.size(), sum = checksum64(reinterpret_cast<const uint8_t*>(table.data()), table.size());
        std::memcpy(file.data() + 8, &version, 4);
        std::memcpy(file.data() + 12, &count, 4);
        std::memcpy(file.data() + 16, &size, 8);
        std::memcpy(file.data() + 24, &sum, 8);
        std::memcpy(file.data() + 64, table.data(), table.size());
        for (size_t i = 0; i < list.size(); ++i)
            std::memcpy(file.data() + offsets[i], list[i].second.data(), list[i].second.size());
        return file;
    }
};

std::string valid_file() {
    DatasetCache cache;
    cache.data.train = part({0, 0, 2, 1, 3, 2}, {1, 0, 1}, {0, 0, 1});
    cache.data.test = part({1, 2, 0, 0}, {0, 1}, {0, 0});
    cache.data.log_rows = 5;
    cache.data.sessions = 3;
    const std::string path = temp_file("valid.cache");
    save_dataset_cache(path, cache);
    std::string bytes = read_all(path);
    std::filesystem::remove(path);
    return bytes;
}

std::string load_error(const std::string& bytes) {
    const std::string path = temp_file("crafted.cache");
    std::ofstream(path, std::ios::binary) << bytes;
    try {
        load_dataset_cache(path, false);
        std::filesystem::remove(path);
        return "";
    } catch (const DataError& e) {
        std::filesystem::remove(path);
        return e.what();
    }
}

TEST(DatasetCacheHostile, TheRewrittenValidFileLoads) {
    const std::string file = valid_file();
    EXPECT_EQ(Sections::parse(file).write(), file) << "the test's writer must lay out files as the cache does";
    EXPECT_EQ(load_error(file), "");
}

// Regression (dataset_cache_fuzz): a cache with no held-out rows copied its
// empty sections to null pointers, undefined behaviour that the sanitizer
// build reports.
TEST(DatasetCacheHostile, ACacheWithAnEmptyPartLoads) {
    DatasetCache cache;
    cache.data.train = part({0, 0, 2, 1, 3, 2}, {1, 0, 1}, {0, 0, 1});
    cache.data.test = part({}, {}, {});
    cache.data.sessions = 2;
    const std::string path = temp_file("empty_part.cache");
    save_dataset_cache(path, cache);
    const DatasetCache loaded = load_dataset_cache(path, false);
    std::filesystem::remove(path);
    EXPECT_EQ(loaded.data.train.rows(), 3);
    EXPECT_EQ(loaded.data.test.rows(), 0);
    EXPECT_TRUE(loaded.data.test.session_index.empty());
}

struct Crafted {
    const char* what;
    std::function<void(Sections&)> change;
    const char* message;  // part of the expected error
};

void edit_meta(Sections& s, const std::function<void(json&)>& change) {
    json meta = json::parse(s.at("meta"));
    change(meta);
    s.at("meta") = meta.dump();
}

TEST(DatasetCacheHostile, EveryFieldOutOfRangeIsRefusedWithItsName) {
    const std::vector<Crafted> cases = {
        {"bin edges past any size", [](Sections& s) { edit_meta(s, [](json& m) { m["bins"][0]["bounds"] = 1e18; }); },
         "bin edges"},
        {"negative bin edges", [](Sections& s) { edit_meta(s, [](json& m) { m["bins"][0]["bounds"] = -1; }); },
         "bin edges"},
        {"bin edges disagreeing with their section",
         [](Sections& s) { edit_meta(s, [](json& m) { m["bins"][0]["bounds"] = 4; }); }, "bin_bounds"},
        {"more rows than the file holds", [](Sections& s) { edit_meta(s, [](json& m) { m["rows"][0] = 1LL << 40; }); },
         "row count"},
        {"a row count disagreeing with the sections",
         [](Sections& s) { edit_meta(s, [](json& m) { m["rows"][1] = 3; }); }, "test.bins"},
        {"a schema of two lengths",
         [](Sections& s) { edit_meta(s, [](json& m) { m["categorical"] = {false}; }); }, "feature schema"},
        {"bin edges out of order",
         [](Sections& s) {
             const double edge = 9.0;
             std::memcpy(s.at("bin_bounds").data(), &edge, 8);
         },
         "bin edges of feature 'x'"},
        {"bin edges not ending at infinity",
         [](Sections& s) {
             const double edge = 2.0;
             std::memcpy(s.at("bin_bounds").data() + 16, &edge, 8);
         },
         "bin edges of feature 'x'"},
        {"a category bin past the value bins",
         [](Sections& s) { edit_meta(s, [](json& m) { m["bins"][1]["category_bin"][2] = 7; }); }, "out of range"},
        {"malformed metadata", [](Sections& s) { s.at("meta") = "{\"task\": "; }, "metadata is malformed"},
        {"a missing section", [](Sections& s) { s.list.pop_back(); }, "test.row_keys' is missing"},
        {"a bin past its feature's bins", [](Sections& s) { s.at("train.bins")[3] = 9; }, "beyond its"},
        {"a label that is not 0 or 1",
         [](Sections& s) {
             const float two = 2.0f;
             std::memcpy(s.at("test.labels").data(), &two, 4);
         },
         "expected 0 or 1"},
        {"sessions not numbered in order",
         [](Sections& s) {
             const int32_t jump = 5;
             std::memcpy(s.at("train.session_index").data() + 8, &jump, 4);
         },
         "train.session_index at row 2"},
        {"a negative session",
         [](Sections& s) {
             const int32_t negative = -1;
             std::memcpy(s.at("test.session_index").data(), &negative, 4);
         },
         "test.session_index at row 0"},
        {"a position of 0",
         [](Sections& s) {
             const int32_t zero = 0;
             std::memcpy(s.at("train.position").data() + 4, &zero, 4);
         },
         "train.position at row 1"},
    };
    const Sections valid = Sections::parse(valid_file());
    for (const Crafted& c : cases) {
        Sections s = valid;
        c.change(s);
        const std::string message = load_error(s.write());
        EXPECT_NE(message.find("crafted.cache"), std::string::npos) << c.what << ": " << message;
        EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ": " << message;
    }
}

TEST(DatasetCacheHostile, HeaderFieldsOutOfRangeAreRefused) {
    const std::string valid = valid_file();
    auto with = [&](size_t at, const void* value, size_t bytes) {
        std::string file = valid;
        std::memcpy(file.data() + at, value, bytes);
        return file;
    };
    const uint32_t no_sections = 0, too_many = 65, far = 1u << 30;
    EXPECT_NE(load_error(with(12, &no_sections, 4)).find("section count 0"), std::string::npos);
    EXPECT_NE(load_error(with(12, &too_many, 4)).find("section count 65"), std::string::npos);
    // A cache written by an older build (version 1 summed with FNV-1a) is refused with what to do.
    const uint32_t older = kDatasetCacheVersion - 1;
    const std::string stale_format = load_error(with(8, &older, 4));
    EXPECT_NE(stale_format.find("format version " + std::to_string(older)), std::string::npos) << stale_format;
    EXPECT_NE(stale_format.find("skipper prepare"), std::string::npos) << stale_format;
    const uint64_t bigger = valid.size() + 64;
    EXPECT_NE(load_error(with(16, &bigger, 8)).find("truncated"), std::string::npos);
    // A section's offset moved past the end, with the table's checksum recomputed.
    std::string moved = with(64 + 24, &far, 4);
    const uint64_t sum = checksum64(reinterpret_cast<const uint8_t*>(moved.data()) + 64, 12 * 48);
    std::memcpy(moved.data() + 24, &sum, 8);
    EXPECT_NE(load_error(moved).find("lies outside the file"), std::string::npos) << load_error(moved);
}

}  // namespace
}  // namespace skipper::data
