// HashIndex against std::unordered_map: the same value kept for every key
// (the first one added), whether each add was new, and every entry visited
// once, through growth, with keys that share their low bits (the probe's
// start), key 0 and the largest key.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <unordered_map>

#include "trainer/data/hash_index.h"

namespace skipper::data {
namespace {

TEST(HashIndex, KeepsTheFirstValueOfEveryKeyAsAMapDoes) {
    std::mt19937_64 rng(3);
    HashIndex<uint32_t> index;
    std::unordered_map<uint64_t, uint32_t> want;
    std::vector<uint64_t> keys = {0, std::numeric_limits<uint64_t>::max()};
    for (int i = 0; i < 5000; ++i) keys.push_back(rng());
    for (uint64_t high = 1; high <= 3000; ++high) keys.push_back(high << 40 | 7);  // one probe start for all
    for (int round = 0; round < 2; ++round)  // the second round finds every key present
        for (size_t k = 0; k < keys.size(); ++k) {
            const auto value = static_cast<uint32_t>(k + round * keys.size());
            const auto [held, added] = index.try_emplace(keys[k], value);
            const auto [it, want_added] = want.try_emplace(keys[k], value);
            ASSERT_EQ(added, want_added) << "key " << keys[k];
            ASSERT_EQ(held, it->second) << "key " << keys[k];
        }
    EXPECT_EQ(index.size(), want.size());
    size_t visited = 0;
    index.for_each([&](uint64_t key, uint32_t value) {
        ++visited;
        const auto it = want.find(key);
        ASSERT_NE(it, want.end()) << "key " << key;
        EXPECT_EQ(value, it->second);
    });
    EXPECT_EQ(visited, want.size());
}

}  // namespace
}  // namespace skipper::data
