// count_newlines (AVX2 where built with it) and its portable form against
// std::count, at every length and alignment around the block sizes, and so
// count_newlines_unquoted and find_newline_or_quote against plain loops;
// same_text against ==, a difference at every position of every length.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>

#include "trainer/data/text_codes.h"
#include "trainer/data/text_scan.h"

namespace skipper::data {
namespace {

TEST(CountNewlines, EqualsStdCountAtEveryLengthAndOffset) {
    std::mt19937 rng(3);
    // Newlines, their neighbours in value and bytes with the high bit set.
    const std::string alphabet = std::string("\n\n\x0b\t,ab\r") + '\x8a' + '\xff' + '\0';
    std::string text(300, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    for (size_t begin = 0; begin < 40; ++begin)
        for (size_t end = begin; end <= text.size(); ++end) {
            const auto want = std::count(text.begin() + static_cast<std::ptrdiff_t>(begin), text.begin() + static_cast<std::ptrdiff_t>(end), '\n');
            ASSERT_EQ(count_newlines(text.data() + begin, text.data() + end), want) << begin << " " << end;
            ASSERT_EQ(count_newlines_portable(text.data() + begin, text.data() + end), want) << begin << " " << end;
        }
    const std::string all(100, '\n');
    EXPECT_EQ(count_newlines(all.data(), all.data() + all.size()), 100);
    EXPECT_EQ(count_newlines_portable(all.data(), all.data() + all.size()), 100);
}

TEST(FindNewlineOrQuote, EqualsAPlainLoopAtEveryLengthAndOffset) {
    std::mt19937 rng(5);
    // Mostly other bytes (the first hit lies far in), some quotes and newlines, their neighbours in value.
    const std::string alphabet = std::string("abcdefgh,\r\x0b!#") + '\x8a' + '\xa2' + '\0';
    std::string text(300, ' ');
    for (char& c : text) c = rng() % 40 == 0 ? (rng() % 2 ? '\n' : '"') : alphabet[rng() % alphabet.size()];
    for (size_t begin = 0; begin < 40; ++begin)
        for (size_t end = begin; end <= text.size(); ++end) {
            const char* const b = text.data() + begin;
            const char* const e = text.data() + end;
            const char* want = b;
            while (want < e && *want != '\n' && *want != '"') ++want;
            ASSERT_EQ(find_newline_or_quote(b, e), want) << begin << " " << end;
            ASSERT_EQ(find_newline_or_quote_portable(b, e), want) << begin << " " << end;
            const bool quoted = std::find(b, e, '"') != e;
            ASSERT_EQ(count_newlines_unquoted(b, e), quoted ? -1 : std::count(b, e, '\n')) << begin << " " << end;
        }
}

TEST(SameText, EqualsStringEqualityAtEveryLengthAndPosition) {
    const std::string base = "t_e4b85cc6-a4ac-86d2-7d8f-4d4b7a1d7737-and-some-more";
    for (size_t n = 0; n <= base.size(); ++n) {
        const std::string a = base.substr(0, n);
        EXPECT_TRUE(same_text(a, std::string(a)));
        if (n > 0) {
            EXPECT_FALSE(same_text(a, base.substr(0, n - 1)));
        }
        for (size_t i = 0; i < n; ++i) {
            std::string b = a;
            b[i] = static_cast<char>(b[i] ^ 0x20);
            ASSERT_FALSE(same_text(a, b)) << n << " " << i;
        }
    }
}

}  // namespace
}  // namespace skipper::data
