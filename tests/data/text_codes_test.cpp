// TextCodes: its hash keeps the values of its first definition (session_hash
// is this hash: it picks the train/test split and the samples), and codes
// follow first insertion.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "trainer/data/text_codes.h"

namespace skipper::data {
namespace {

// The hash as first written: words of 8 bytes, then the tail copied into a zeroed word.
uint64_t reference_hash(std::string_view text) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ text.size();
    size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        uint64_t word;
        std::memcpy(&word, text.data() + i, 8);
        h = (h ^ word) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 29;
    }
    uint64_t tail = 0;
    std::memcpy(&tail, text.data() + i, text.size() - i);
    h = (h ^ tail) * 0x94D049BB133111EBULL;
    return h ^ (h >> 32);
}

TEST(TextCodes, HashKeepsItsValues) {
    std::mt19937_64 rng(7);
    for (int round = 0; round < 20000; ++round) {
        std::string text(static_cast<size_t>(round % 80), ' ');
        for (auto& c : text) c = static_cast<char>(rng() % 256);
        ASSERT_EQ(TextCodes::hash(text), reference_hash(text)) << text.size();
        // Every byte counts.
        if (!text.empty()) {
            std::string other = text;
            other[rng() % other.size()] ^= 1;
            ASSERT_NE(TextCodes::hash(other), TextCodes::hash(text));
        }
    }
    EXPECT_EQ(TextCodes::hash(""), reference_hash(""));
}

TEST(TextCodes, CodesFollowFirstInsertion) {
    std::mt19937_64 rng(9);
    std::vector<std::string> texts;
    for (int i = 0; i < 5000; ++i) texts.push_back("id_" + std::to_string(rng() % 1500));
    TextCodes codes;
    std::vector<std::string> order;
    for (const auto& t : texts) {
        const uint64_t h = TextCodes::hash(t);
        codes.prefetch(h);
        const int32_t known = codes.find(t, h);
        const int32_t code = codes.insert(t, h);
        if (known < 0) {
            ASSERT_EQ(code, static_cast<int32_t>(order.size()));
            order.push_back(t);
        } else {
            ASSERT_EQ(code, known);
        }
        ASSERT_EQ(order[static_cast<size_t>(code)], t);
        ASSERT_EQ(codes.find(t), code);
    }
    EXPECT_EQ(codes.size(), order.size());
}

TEST(TextCodes, ReserveKeepsEveryCode) {
    // A reserve at any point, to any size (smaller than the table too), changes no code.
    std::mt19937_64 rng(21);
    std::vector<std::string> texts;
    for (int i = 0; i < 6000; ++i) texts.push_back("t_" + std::to_string(rng() % 4000) + "-abcdef");
    TextCodes plain, reserved;
    for (size_t i = 0; i < texts.size(); ++i) {
        if (i % 700 == 0) reserved.reserve(static_cast<size_t>(rng() % 9000));
        ASSERT_EQ(reserved.insert(texts[i]), plain.insert(texts[i])) << i;
    }
    ASSERT_EQ(reserved.names(), plain.names());
    for (const auto& t : texts) ASSERT_EQ(reserved.find(t), plain.find(t));
    EXPECT_EQ(reserved.find("absent"), -1);
}

}  // namespace
}  // namespace skipper::data
