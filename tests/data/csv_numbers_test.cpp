// The CSV reader's fast number paths against std::from_chars: every integer
// and float field it accepts holds what from_chars gives, and what it refuses,
// from_chars refuses too (the reader's contract before the fast paths).
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "trainer/data/csv.h"

namespace skipper::data {
namespace {

// The reference: a '+' sign dropped, then from_chars over the whole field.
template <class T> bool reference(const std::string& field, T& out) {
    const char* first = field.data();
    const char* last = first + field.size();
    if (first != last && *first == '+') ++first;
    const auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && ptr == last && first != last;
}

std::vector<std::string> number_fields() {
    std::vector<std::string> fields = {"0", "-0", "+0", "7", "-7", "+12", "123456789", "-123456789", "1234567890",
                                       "2147483647", "-2147483648", "2147483648", "0.5", "-0.5", ".5", "5.", "1e5",
                                       "1.5e-3", "-", "+", "+-1", "--1", "1.2.3", "1,5", "0x10", "00012", "-00.0100",
                                       "9007199254740993", "0.1234567890123456789", "12345678901234567890",
                                       "3.4028235e38", "1e-50", "16777217", "16777217.0", "0.000000000000000000001",
                                       "33554433", "inf", "nan", " 1", "1 ", "-1234.5e"};
    std::mt19937_64 rng(17);
    const std::string digits = "0123456789";
    for (int i = 0; i < 200000; ++i) {
        std::string f;
        if (rng() % 4 == 0) f += (rng() % 2) ? '-' : '+';
        const int whole = static_cast<int>(rng() % 12);
        for (int d = 0; d < whole; ++d) f += digits[rng() % 10];
        if (rng() % 3 != 0) {
            f += '.';
            const int frac = static_cast<int>(rng() % 14);
            for (int d = 0; d < frac; ++d) f += digits[rng() % 10];
        }
        if (rng() % 50 == 0) f += "e" + std::to_string(static_cast<int>(rng() % 20) - 10);
        if (!f.empty()) fields.push_back(f);  // an empty field is a missing float, not a number
    }
    // 16 bytes at most after the sign (the shuffled shape), every length and point position, and
    // integers of up to 17 digits around 2^53 = 9007199254740992.
    for (int i = 0; i < 50000; ++i) {
        std::string f = rng() % 3 == 0 ? "-" : "";
        const int length = 1 + static_cast<int>(rng() % 17);
        const int point = static_cast<int>(rng() % (length + 1));  // == length: none
        for (int d = 0; d < length; ++d) f += d == point ? '.' : digits[rng() % 10];
        fields.push_back(f);
        fields.push_back(std::to_string(9007199254740992ULL - 50 + rng() % 100));
    }
    // Floats written shortest, as the generator and MSSD's files do, and their
    // neighbours' decimal midpoints (ties between two floats).
    for (int i = 0; i < 100000; ++i) {
        const auto bits = static_cast<uint32_t>(rng() % 0x4F000000u);  // positive, up to about 2^31
        float v;
        std::memcpy(&v, &bits, sizeof v);
        char buffer[64];
        fields.emplace_back(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr);
        const double mid = (static_cast<double>(v) + static_cast<double>(std::nextafter(v, 1e30f))) / 2.0;
        fields.emplace_back(buffer, std::to_chars(buffer, buffer + sizeof buffer, mid, std::chars_format::fixed).ptr);
    }
    return fields;
}

// One file of every field, read with bad rows skipped: the rows kept (by
// their lines) must be exactly the fields from_chars takes, with its values.
template <class T> void check_column(csv::Kind kind, const std::vector<std::string>& fields) {
    std::string text = "x\n";
    for (const auto& field : fields) text += field + "\n";
    ReadOptions options;
    options.on_bad_row = OnBadRow::skip;
    ReadReport report;
    const csv::Table table = csv::parse_csv(text, "n.csv", {{"x", kind}}, options, &report);
    const T* got = table.columns[0].values.data<T>();
    int64_t row = 0;
    for (size_t i = 0; i < fields.size(); ++i) {
        T want{};
        const bool ok = reference(fields[i], want);
        const bool kept = row < table.rows && table.line[static_cast<size_t>(row)] == static_cast<int64_t>(i) + 2;
        ASSERT_EQ(kept, ok) << "'" << fields[i] << "'";
        if (!kept) continue;
        ASSERT_TRUE(std::memcmp(&got[row], &want, sizeof(T)) == 0) << "'" << fields[i] << "': " << got[row] << " vs " << want;
        ++row;
    }
    EXPECT_EQ(row, table.rows);
    EXPECT_GT(row, 1000);
}

TEST(CsvNumbers, FastPathsAgreeWithFromChars) {
    const std::vector<std::string> fields = number_fields();
    check_column<float>(csv::Kind::real, fields);
    check_column<int32_t>(csv::Kind::integer, fields);
}

// Booleans: exactly true/false, True/False and 0/1, on short texts of their
// letters and near-misses (the word-compare path and the byte path alike).
TEST(CsvNumbers, BooleansAreTheSixSpellings) {
    const std::string letters = "tTrRuUeEfFaAlLsS01 2\x14\x06";
    std::mt19937_64 rng(19);
    std::vector<std::string> fields = {"true", "True", "false", "False", "0", "1", "TRUE", "FALSE", "tRUE", "fAlse",
                                       "true ", " true", "truee", "fals", "00", "01", "yes", "\x14rue", "\x06" "alse"};
    for (int i = 0; i < 100000; ++i) {
        std::string f = rng() % 2 ? (rng() % 2 ? "true" : "false") : "";
        if (f.empty()) f.resize(1 + rng() % 6);
        for (auto& c : f)
            if (rng() % 3 == 0) c = letters[rng() % letters.size()];
        fields.push_back(f);
    }
    std::string text = "x\n";
    for (const auto& field : fields) text += field + "\n";
    ReadOptions options;
    options.on_bad_row = OnBadRow::skip;
    const csv::Table table = csv::parse_csv(text, "b.csv", {{"x", csv::Kind::boolean}}, options, nullptr);
    const auto* got = table.columns[0].values.data<uint8_t>();
    int64_t row = 0;
    for (size_t i = 0; i < fields.size(); ++i) {
        const std::string& f = fields[i];
        const bool is_true = f == "true" || f == "True" || f == "1";
        const bool ok = is_true || f == "false" || f == "False" || f == "0";
        const bool kept = row < table.rows && table.line[static_cast<size_t>(row)] == static_cast<int64_t>(i) + 2;
        ASSERT_EQ(kept, ok) << "'" << f << "'";
        if (!kept) continue;
        ASSERT_EQ(got[row], is_true ? 1 : 0) << "'" << f << "'";
        ++row;
    }
    EXPECT_EQ(row, table.rows);
    EXPECT_GT(row, 5000);
}

}  // namespace
}  // namespace skipper::data
