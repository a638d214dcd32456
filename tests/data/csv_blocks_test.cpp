// The CSV parser's structural index and its plain-record path. The index's
// SIMD masks must equal the byte-by-byte ones; and a file must read the same
// (values, dictionary codes, lines, errors, skipped rows) whether its records
// go through the plain path (unquoted fields cut by the index) or the exact
// path (the same file with every field quoted, which the plain path refuses).
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "engine/error.h"
#include "trainer/data/csv.h"
#include "trainer/data/csv_blocks.h"

namespace skipper::data {
namespace {

using csv::Kind;

std::string random_bytes(std::mt19937_64& rng, size_t n) {
    static const std::string alphabet = ",\n\"\r abc019-.";
    std::string out(n, ' ');
    for (auto& c : out) c = rng() % 8 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    return out;
}

TEST(CsvBlocks, MaskMatchesTheBytes) {
    std::mt19937_64 rng(3);
    const std::string text = random_bytes(rng, 4096 + 64);
    for (size_t at = 0; at < 4096; ++at) {
        const uint64_t want = csv::structural_mask_portable(text.data() + at);
        ASSERT_EQ(csv::structural_mask(text.data() + at), want) << at;
        for (int i = 0; i < 64; ++i) {
            const char c = text[at + static_cast<size_t>(i)];
            ASSERT_EQ((want >> i) & 1, uint64_t{c == ',' || c == '\n' || c == '"' || c == '\r'});
        }
    }
}

TEST(CsvBlocks, StructuralsListEveryStructuralByteOnceAndNothingPastTheEnd) {
    std::mt19937_64 rng(5);
    for (int round = 0; round < 2000; ++round) {
        // A buffer of exactly the text's size, so that ASan sees any read past its end.
        const size_t n = rng() % 300;
        const std::string source = random_bytes(rng, n);
        const std::vector<char> text(source.begin(), source.end());
        const char* begin = text.data();
        const char* end = begin + n;
        const size_t from = n == 0 ? 0 : rng() % (n + 1);
        csv::Structurals structurals(end);
        structurals.seek(begin + from);
        for (size_t i = from; i < n; ++i) {
            const char c = text[i];
            if (c == ',' || c == '\n' || c == '"' || c == '\r') {
                ASSERT_EQ(structurals.next(), begin + i) << round;
            }
        }
        ASSERT_EQ(structurals.next(), end);
        ASSERT_EQ(structurals.next(), end);
    }
}

// One logical record: its fields' values and how its line ends.
struct Record {
    std::vector<std::string> values;
    bool blank = false;
    bool crlf = false;
};

const std::vector<csv::ColumnSpec>& specs() {
    static const std::vector<csv::ColumnSpec> out = {
        {"id", Kind::text},
        {"n", Kind::integer, {}, 0, 1000},
        {"x", Kind::real},
        {"flag", Kind::boolean},
        {"day", Kind::date},
        {"mode", Kind::choice, {"minor", "major"}},
        {"name", Kind::text, {"alpha", "beta"}},
    };
    return out;
}
// The file's columns: the specs' in another order, and one nobody reads.
const std::vector<std::string> kHeader = {"n", "id", "ignored", "x", "flag", "day", "mode", "name"};

std::string random_text(std::mt19937_64& rng, size_t max_size) {
    static const std::string alphabet = "abcXYZ019_-. ,\n\"\r";
    std::string out(rng() % (max_size + 1), ' ');
    for (auto& c : out) c = alphabet[rng() % (rng() % 4 == 0 ? alphabet.size() : alphabet.size() - 5)];
    return out;
}

// A value for `column`, good most of the time (`bad_rate` per mille is malformed).
std::string random_value(std::mt19937_64& rng, const std::string& column, int bad_rate, std::string& last_id) {
    const bool bad = static_cast<int>(rng() % 1000) < bad_rate;
    if (column == "ignored") return random_text(rng, 10);
    if (column == "id") {
        if (bad) return "";
        if (rng() % 4 != 0) return last_id;  // runs of one id, as a session's rows
        const int kind = static_cast<int>(rng() % 10);
        last_id = kind < 6 ? "t_" + std::to_string(rng() % 50) + "-0000-1111-2222-333344445555"
                  : kind < 8 ? random_text(rng, 150) + "z"  // long: crosses 64-byte blocks
                             : random_text(rng, 6) + "z";
        return last_id;
    }
    if (column == "n") {
        if (bad) {
            const char* odd[] = {"abc", "1001", "-1", "", "1.5", "99999999999", " 1"};
            return odd[rng() % 7];
        }
        const char* forms[] = {"", "+", "0"};
        return forms[rng() % 3 == 0 ? rng() % 3 : 0] + std::to_string(rng() % 1001);
    }
    if (column == "x") {
        if (bad) return rng() % 2 ? "x1" : "1.2.3";
        if (rng() % 10 == 0) return "";
        const char* odd[] = {"1e5", "-0", "+2.5", "0.1234567890123456789", "3.4028235e38"};
        if (rng() % 10 == 0) return odd[rng() % 5];
        uint32_t bits = static_cast<uint32_t>(rng());
        float v;
        std::memcpy(&v, &bits, sizeof v);
        if (!std::isfinite(v)) v = 0.25f;
        char buffer[64];
        return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, v).ptr);
    }
    if (column == "flag") {
        const char* good[] = {"true", "false", "True", "False", "0", "1"};
        const char* odd[] = {"yes", "", "TRUE", "2"};
        return bad ? odd[rng() % 4] : good[rng() % 6];
    }
    if (column == "day") {
        if (bad) {
            const char* odd[] = {"2018-02-30", "2018-9-06", "", "2018-13-01", "2018/09/06"};
            return odd[rng() % 5];
        }
        const int day = 1 + static_cast<int>(rng() % (rng() % 8 == 0 ? 28 : 2));
        return std::string("2018-0") + std::to_string(1 + rng() % 9) + (day < 10 ? "-0" : "-") + std::to_string(day);
    }
    if (column == "mode") return bad ? (rng() % 2 ? "Major" : "") : (rng() % 2 ? "major" : "minor");
    // name
    if (bad) return "";
    const char* names[] = {"alpha", "beta", "gamma", "alpha", "a,b", "\"q\"", "line\nbreak", "cr\r", "x\ry"};
    return names[rng() % 9];
}

std::vector<Record> random_records(std::mt19937_64& rng, size_t rows, int bad_rate) {
    std::vector<Record> records;
    std::string last_id = "t_first";
    for (size_t r = 0; r < rows; ++r) {
        Record record;
        record.crlf = rng() % 5 == 0;
        if (rng() % 40 == 0) {
            record.blank = true;
            records.push_back(record);
            continue;
        }
        for (const auto& column : kHeader) record.values.push_back(random_value(rng, column, bad_rate, last_id));
        if (static_cast<int>(rng() % 1000) < bad_rate / 2) {
            if (rng() % 2) record.values.pop_back();
            else record.values.push_back("extra");
        }
        records.push_back(record);
    }
    return records;
}

// Writes a value; `quote_all` quotes every field, otherwise only those that need it (and some others).
// A quote anywhere is quoted (doubled), as RFC 4180 has it: the chunks are cut by quote parity, which
// a stray quote in an unquoted field would upset whatever the field parser.
void write_value(std::string& out, const std::string& value, bool quote_all, std::mt19937_64& rng) {
    const bool needs = value.find_first_of(",\n\"") != std::string::npos || (!value.empty() && value.back() == '\r');
    if (!quote_all && !needs && rng() % 20 != 0) {
        out += value;
        return;
    }
    out += '"';
    for (char c : value) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

std::string write_records(const std::vector<Record>& records, bool quote_all, bool last_newline, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string out;
    for (size_t i = 0; i < kHeader.size(); ++i) out += (i ? "," : "") + kHeader[i];
    out += '\n';
    for (size_t r = 0; r < records.size(); ++r) {
        const Record& record = records[r];
        for (size_t i = 0; i < record.values.size(); ++i) {
            if (i) out += ',';
            write_value(out, record.values[i], quote_all, rng);
        }
        if (r + 1 < records.size() || last_newline) out += record.crlf ? "\r\n" : "\n";
    }
    return out;
}

// A read's whole outcome, or its error.
struct Outcome {
    std::optional<std::string> error;
    csv::Table table;
    ReadReport report;
};

Outcome read(const std::string& text, OnBadRow on_bad_row, int threads) {
    ReadOptions options;
    options.on_bad_row = on_bad_row;
    options.num_threads = threads;
    Outcome out;
    try {
        out.table = csv::parse_csv(text, "r.csv", specs(), options, &out.report);
    } catch (const DataError& e) {
        out.error = e.what();
    }
    return out;
}

void expect_same(const Outcome& plain, const Outcome& exact, const std::string& what) {
    ASSERT_EQ(plain.error, exact.error) << what;
    if (plain.error) return;
    ASSERT_EQ(plain.table.rows, exact.table.rows) << what;
    ASSERT_EQ(plain.table.line, exact.table.line) << what;
    for (size_t c = 0; c < specs().size(); ++c) {
        const Tensor& a = plain.table.columns[c].values;
        const Tensor& b = exact.table.columns[c].values;
        ASSERT_EQ(a.nbytes(), b.nbytes()) << what;
        ASSERT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what << ", column " << specs()[c].name;
        ASSERT_EQ(plain.table.columns[c].dictionary, exact.table.columns[c].dictionary) << what;
    }
    ASSERT_EQ(plain.report.rows_read, exact.report.rows_read) << what;
    ASSERT_EQ(plain.report.rows_skipped, exact.report.rows_skipped) << what;
    ASSERT_EQ(plain.report.problems, exact.report.problems) << what;
}

TEST(CsvBlocks, PlainPathReadsAsTheExactPath) {
    std::mt19937_64 rng(11);
    int64_t rows_read = 0, errors = 0;
    for (int round = 0; round < 400; ++round) {
        const int bad_rate = round % 4 == 0 ? 0 : static_cast<int>(rng() % 40);
        const std::vector<Record> records = random_records(rng, 1 + rng() % 120, bad_rate);
        const bool last_newline = rng() % 4 != 0;
        const std::string mixed = write_records(records, false, last_newline, static_cast<uint64_t>(round));
        const std::string quoted = write_records(records, true, last_newline, static_cast<uint64_t>(round));
        for (const OnBadRow mode : {OnBadRow::error, OnBadRow::skip}) {
            const Outcome plain = read(mixed, mode, 1);
            expect_same(plain, read(quoted, mode, 1), "round " + std::to_string(round));
            rows_read += plain.table.rows;
            errors += plain.error.has_value();
        }
    }
    // Both outcomes were exercised.
    EXPECT_GT(rows_read, 10000);
    EXPECT_GT(errors, 100);
}

TEST(CsvBlocks, PlainPathReadsAsTheExactPathInSeveralChunks) {
    // Over 2 MB, so that two threads cut it in two chunks.
    std::mt19937_64 rng(13);
    const std::vector<Record> records = random_records(rng, 40000, 5);
    const std::string mixed = write_records(records, false, true, 1);
    const std::string quoted = write_records(records, true, true, 1);
    ASSERT_GT(mixed.size(), size_t{2} << 20);
    const Outcome plain = read(mixed, OnBadRow::skip, 2);
    expect_same(plain, read(quoted, OnBadRow::skip, 2), "two threads");
    expect_same(plain, read(quoted, OnBadRow::skip, 1), "two threads against one");
    EXPECT_GT(plain.report.rows_skipped, 100);
}

TEST(CsvBlocks, AStrayQuoteDoesNotMoveTheChunkBoundaries) {
    // A quote inside an unquoted field is text. Counted as a quote, it flips the
    // parity, and the cut between two threads' chunks then lands inside the
    // quoted field that holds a newline further on.
    std::string text;
    for (size_t i = 0; i < kHeader.size(); ++i) text += (i ? "," : "") + kHeader[i];
    text += "\n";
    const auto row = [](const std::string& id, int n) {
        return std::to_string(n) + "," + id + ",skip,0.5,true,2018-09-06,major,alpha\n";
    };
    text += row("t_\"stray", 1);
    int n = 2;
    while (text.size() < (size_t{3} << 20) / 2) text += row("t_" + std::to_string(n), n % 1000), ++n;
    text += row("\"two\nlines\"", 7);  // around the middle: where the cut is sought
    for (int i = 0; i < 4000; ++i) text += row("\"q" + std::to_string(i) + "\nz\"", i % 1000);
    while (text.size() < (size_t{3} << 20)) text += row("t_" + std::to_string(n), n % 1000), ++n;
    const Outcome one = read(text, OnBadRow::error, 1);
    ASSERT_FALSE(one.error.has_value()) << *one.error;
    EXPECT_EQ(one.table.columns[0].dictionary[0], "t_\"stray");
    expect_same(read(text, OnBadRow::error, 2), one, "two threads against one");
    expect_same(read(text, OnBadRow::error, 3), one, "three threads against one");
}

TEST(CsvBlocks, EveryFieldOffsetReadsAsTheExactPath) {
    // One record's fields moved across 64-byte block edges byte by byte (by the
    // unread column's width), good and with each kind of malformed value, and
    // as the file's last record with and without its newline.
    const std::vector<std::string> good = {"12", "t_a", "", "-0.027754776", "true", "2018-09-06", "major", "beta"};
    const std::vector<std::pair<size_t, std::string>> bad = {
        {0, "x"}, {1, ""}, {3, "1.2.3"}, {4, "yes"}, {5, "2018-02-30"}, {6, "Major"}, {7, ""}};
    int cases = 0;
    for (size_t pad = 0; pad < 140; ++pad) {
        for (size_t b = 0; b <= bad.size(); ++b) {
            for (const bool last_newline : {true, false}) {
                std::vector<Record> records;
                for (int r = 0; r < 3; ++r) records.push_back({good});
                Record odd{good};
                odd.values[2] = std::string(pad, 'p');
                if (b < bad.size()) odd.values[bad[b].first] = bad[b].second;
                records.push_back(odd);
                if (pad % 2 == 0) records.push_back({good});
                const std::string mixed = write_records(records, false, last_newline, 0);
                const std::string quoted = write_records(records, true, last_newline, 0);
                for (const OnBadRow mode : {OnBadRow::error, OnBadRow::skip})
                    expect_same(read(mixed, mode, 1), read(quoted, mode, 1),
                                "pad " + std::to_string(pad) + ", bad " + std::to_string(b));
                ++cases;
            }
        }
    }
    EXPECT_EQ(cases, 140 * 8 * 2);
}

TEST(CsvBlocks, RepeatedDatesReadAsEachAlone) {
    // Runs of one date, and neighbours that differ in any one character.
    std::mt19937_64 rng(17);
    std::vector<std::string> dates;
    std::string date = "2018-09-06";
    for (int i = 0; i < 1500; ++i) {
        if (rng() % 3 == 0) {
            const char* valid[] = {"2018-09-06", "2018-09-07", "2018-08-06", "2017-09-06", "2018-10-16"};
            date = valid[rng() % 5];
            if (rng() % 2) date[rng() % 10] = "0123456789-"[rng() % 11];
        }
        dates.push_back(date);
    }
    std::string text = "day\n";
    for (const auto& d : dates) text += d + "\n";
    ReadOptions options;
    options.on_bad_row = OnBadRow::skip;
    const csv::Table all = csv::parse_csv(text, "d.csv", {{"day", Kind::date}}, options, nullptr);
    int64_t row = 0, good = 0;
    for (size_t i = 0; i < dates.size(); ++i) {
        const csv::Table alone = csv::parse_csv("day\n" + dates[i] + "\n", "d.csv", {{"day", Kind::date}}, options, nullptr);
        const bool kept = row < all.rows && all.line[static_cast<size_t>(row)] == static_cast<int64_t>(i) + 2;
        ASSERT_EQ(kept, alone.rows == 1) << dates[i];
        if (!kept) continue;
        ASSERT_EQ(all.columns[0].values.data<int32_t>()[row], alone.columns[0].values.data<int32_t>()[0]) << dates[i];
        ++row;
        ++good;
    }
    EXPECT_GT(good, 500);
}

}  // namespace
}  // namespace skipper::data
