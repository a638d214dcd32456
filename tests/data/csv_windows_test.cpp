// CsvWindows over a .csv.gz inflates as it goes: the same windows, lines and
// ranges as over the plain file, with ranges far apart (more than one
// inflated piece between them) and the text's end found without a size.
// Over a plain file the windows are views of a mapping: the same windows as
// a plain account of the rule, taken windows readable after the reader is
// gone, and a file cut short while read is a DataError.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../tools/tools_test_util.h"
#include "engine/error.h"
#include "trainer/data/csv.h"
#include "trainer/data/csv_windows.h"

namespace skipper::data {
namespace {

// About 4 MB of lines of varying length, the last without a line end.
std::string varied_lines() {
    std::mt19937 rng(7);
    std::string text = "session_id,value\n";
    for (int line = 0; text.size() < (size_t{4} << 20); ++line)
        text += "s" + std::to_string(line) + "," + std::string(1 + rng() % 120, 'a' + static_cast<char>(line % 26)) + "\n";
    text += "last,line";
    return text;
}

class GzipWindows : public ::testing::Test {
protected:
    void SetUp() override {
        text_ = varied_lines();
        std::ofstream(plain_, std::ios::binary) << text_;
        test::gzip_file(plain_, packed_);
    }
    test::TempDir dir_;
    std::string plain_ = dir_.file("text.csv"), packed_ = dir_.file("text.csv.gz");
    std::string text_;
};

TEST_F(GzipWindows, SameWindowsAsThePlainFile) {
    for (const int64_t window_bytes : {int64_t{1000}, int64_t{300000}, int64_t{16} << 20}) {
        CsvWindows plain(plain_, window_bytes), packed(packed_, window_bytes);
        EXPECT_EQ(plain.header(), packed.header());
        std::string joined;
        int windows = 0;
        for (bool more = plain.next(); more; more = plain.next(), ++windows) {
            ASSERT_TRUE(packed.next());
            ASSERT_EQ(plain.body(), packed.body());
            ASSERT_EQ(plain.body_offset(), packed.body_offset());
            ASSERT_EQ(plain.body_line(), packed.body_line());
            ASSERT_EQ(plain.at_end(), packed.at_end());
            // Take half the lines of some windows: the rest starts the next one.
            const std::string_view body = plain.body();
            const size_t take = windows % 3 == 1 ? body.rfind('\n', body.size() / 2) + 1 : body.size();
            joined += body.substr(0, take);
            plain.consume(take);
            packed.consume(take);
        }
        EXPECT_FALSE(packed.next());
        EXPECT_EQ(std::string(plain.header()) + joined, text_) << window_bytes;
    }
}

TEST_F(GzipWindows, RangesFarApartReadForward) {
    CsvWindows packed(packed_, 1000);
    for (const size_t offset : {size_t{20}, size_t{25}, size_t{1'700'000}, size_t{1'700'001}, size_t{3'900'000}}) {
        EXPECT_EQ(packed.read_range(static_cast<int64_t>(offset), 5000), text_.substr(offset, 5000)) << offset;
    }
    EXPECT_EQ(packed.read_range(static_cast<int64_t>(text_.size() - 9), 9), "last,line");
    EXPECT_THROW(packed.read_range(10, 5), std::logic_error);  // backwards
}

// The windows by the rule, worked out plainly: the header is the first line
// ending outside quotes; a window is the whole records within the next
// window_bytes, or the rest of the text when that reaches its end; none:
// twice the bytes. Records as the parser reads them: a quote opens a quoted
// field only at a field's start ("" inside is one quote), text after its
// closing quote runs to the newline, and a newline outside quotes ends the
// record.
struct Expected {
    std::string header;
    std::vector<std::string> bodies;
};

Expected expected_windows(const std::string& text, size_t window_bytes) {
    const auto line_ends = [&](size_t from, size_t to) {
        std::vector<size_t> ends;  // one past each newline that ends a record
        enum { field_start, unquoted, quoted, after_quote, junk } state = field_start;
        for (size_t i = from; i < to; ++i) {
            const char c = text[i];
            if (state == quoted) {
                if (c != '"') continue;
                if (i + 1 < to && text[i + 1] == '"') ++i;
                else state = after_quote;
            } else if (c == '\n') {
                ends.push_back(i + 1);
                state = field_start;
            } else if (state == after_quote) {
                // One '\r' may follow the quote; anything else is junk, skipped up to the newline.
                state = c == ',' ? field_start : c == '\r' && text[i - 1] == '"' ? after_quote : junk;
            } else if (state == junk) {
                continue;
            } else if (c == ',') {
                state = field_start;
            } else {
                state = state == field_start && c == '"' ? quoted : unquoted;
            }
        }
        return ends;
    };
    const auto header_end = [&] {  // the first newline outside quotes (parity, as the header is found)
        bool in_quotes = false;
        for (size_t i = 0; i < text.size(); ++i) {
            if (text[i] == '"') in_quotes = !in_quotes;
            else if (text[i] == '\n' && !in_quotes) return i + 1;
        }
        return size_t{0};
    };
    Expected out;
    size_t position = header_end() == 0 ? text.size() : header_end();
    out.header = text.substr(0, position);
    for (size_t want = window_bytes; position < text.size();) {
        const size_t end = std::min(text.size(), position + want);
        const std::vector<size_t> ends = line_ends(position, end);
        const size_t body = end == text.size() ? end - position : ends.empty() ? 0 : ends.back() - position;
        if (body == 0) {
            want *= 2;
            continue;
        }
        out.bodies.push_back(text.substr(position, body));
        position += body;
        want = window_bytes;
    }
    return out;
}

// Texts with what the windows must not cut: CRLF, quoted newlines (and a
// quoted quote), no newline at the end, lines longer than small windows.
std::vector<std::string> edge_texts() {
    std::string quoted = "id,\"note\"\r\n";
    for (int i = 0; i < 300; ++i)
        quoted += "r" + std::to_string(i) + (i % 7 == 0 ? ",\"a\nb \"\"c\"\"\r\nd\"\r\n" : ",plain\r\n");
    // A quote inside an unquoted field is text, so quote parity is no guide
    // to where records end; and text after a closing quote runs to the newline.
    std::string stray = "id,note\n";
    for (int i = 0; i < 300; ++i)
        stray += "r" + std::to_string(i) + (i % 5 == 0 ? ",ab\"c\n" : i % 5 == 2 ? ",\"x\ny\"\n" : i % 5 == 3 ? ",\"q\"junk,\"z\n" : ",plain\n");
    const std::string varied = varied_lines();
    return {varied.substr(0, varied.find('\n', 200000) + 1) + "last,line", quoted, stray, "a,b\n1,2\n3,4", "a,b\n" + std::string(5000, 'x') + ",1\n", "a,\"b\nc\"\n1,2\n"};
}

TEST(CsvWindowsMapped, WindowsFollowTheRuleAtEveryWindowSize) {
    const test::TempDir dir;
    for (const std::string& text : edge_texts()) {
        const std::string path = dir.file("edge.csv"), packed = dir.file("edge.csv.gz");
        std::ofstream(path, std::ios::binary) << text;
        test::gzip_file(path, packed);
        for (const size_t window_bytes : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{64}, size_t{1000}, size_t{4095},
                                          size_t{4097}, size_t{65536}, size_t{300000}, size_t{16} << 20}) {
            const Expected want = expected_windows(text, window_bytes);
            for (const std::string& file : {path, packed}) {
                CsvWindows windows(file, static_cast<int64_t>(window_bytes));
                ASSERT_EQ(windows.header(), want.header) << file;
                size_t w = 0, offset = want.header.size();
                int64_t line = 1 + std::count(want.header.begin(), want.header.end(), '\n');
                for (; windows.next(); ++w) {
                    ASSERT_LT(w, want.bodies.size()) << file << " window_bytes " << window_bytes;
                    ASSERT_EQ(windows.body(), want.bodies[w]) << file << " window_bytes " << window_bytes << " window " << w;
                    ASSERT_EQ(windows.body_offset(), static_cast<int64_t>(offset));
                    ASSERT_EQ(windows.body_line(), line);
                    offset += windows.body().size();
                    line += std::count(want.bodies[w].begin(), want.bodies[w].end(), '\n');
                    ASSERT_EQ(windows.at_end(), offset == text.size());
                    windows.consume(windows.body().size());
                }
                EXPECT_EQ(w, want.bodies.size()) << file << " window_bytes " << window_bytes;
            }
        }
    }
}

// Unchecked windows over text without quotes end where checked ones do (every
// newline ends a line there), count no lines, and newlines_between counts
// any range of the file.
TEST(CsvWindowsMapped, UncheckedWindowsOfQuoteFreeTextAreTheCheckedOnes) {
    const test::TempDir dir;
    for (const std::string& text : edge_texts()) {
        if (text.find('"') != std::string::npos) continue;
        const std::string path = dir.file("plain.csv"), packed = dir.file("plain.csv.gz");
        std::ofstream(path, std::ios::binary) << text;
        test::gzip_file(path, packed);
        for (const size_t window_bytes : {size_t{1}, size_t{7}, size_t{4095}, size_t{65536}, size_t{16} << 20}) {
            const Expected want = expected_windows(text, window_bytes);
            for (const std::string& file : {path, packed}) {
                CsvWindows windows(file, static_cast<int64_t>(window_bytes), WindowEnds::unchecked);
                ASSERT_EQ(windows.header(), want.header) << file;
                size_t w = 0, offset = want.header.size();
                for (; windows.next(); ++w) {
                    ASSERT_LT(w, want.bodies.size()) << file << " window_bytes " << window_bytes;
                    ASSERT_EQ(windows.body(), want.bodies[w]) << file << " window_bytes " << window_bytes << " window " << w;
                    ASSERT_EQ(windows.body_offset(), static_cast<int64_t>(offset));
                    EXPECT_THROW(windows.body_line(), std::logic_error);
                    offset += windows.body().size();
                    // Alternately consumed and taken: both move on without counting.
                    if (w % 2 == 0) windows.consume(windows.body().size());
                    else windows.take(windows.body().size());
                }
                EXPECT_EQ(w, want.bodies.size()) << file << " window_bytes " << window_bytes;
            }
        }
        CsvWindows windows(path, 4096, WindowEnds::unchecked);
        std::mt19937_64 rng(5);
        for (int i = 0; i < 50; ++i) {
            size_t from = rng() % (text.size() + 1), to = rng() % (text.size() + 1);
            if (from > to) std::swap(from, to);
            ASSERT_EQ(windows.newlines_between(static_cast<int64_t>(from), static_cast<int64_t>(to)),
                      std::count(text.begin() + static_cast<std::ptrdiff_t>(from), text.begin() + static_cast<std::ptrdiff_t>(to), '\n'));
        }
        EXPECT_THROW(windows.newlines_between(0, static_cast<int64_t>(text.size()) + 1), std::logic_error);
    }
}

TEST(CsvWindowsMapped, TakenWindowsOutliveTheReader) {
    const test::TempDir dir;
    const std::string text = varied_lines();
    for (const std::string& file : {dir.file("text.csv"), dir.file("text.csv.gz")}) {
        std::ofstream(dir.file("text.csv"), std::ios::binary) << text;
        if (file.ends_with(".gz")) test::gzip_file(dir.file("text.csv"), file);
        std::vector<WindowText> taken;
        std::string header;
        {
            CsvWindows windows(file, 100000);
            header = windows.header();
            // Half of each window taken: the rest is read again in the next one.
            while (windows.next()) {
                const std::string_view body = windows.body();
                const size_t half = windows.at_end() ? body.size() : body.rfind('\n', body.size() / 2) + 1;
                taken.push_back(windows.take(half == 0 ? body.size() : half));
            }
        }
        std::string joined = header;
        for (const WindowText& window : taken) joined += window.body;
        EXPECT_EQ(joined, text) << file;
    }
}

TEST(CsvWindowsMapped, HeaderOnlyAndEmptyFiles) {
    const test::TempDir dir;
    for (const std::string& text : {std::string(), std::string("a,b"), std::string("a,b\n"), std::string("a,\"b\nc\"\r\n")}) {
        const std::string path = dir.file("short.csv");
        std::ofstream(path, std::ios::binary) << text;
        CsvWindows windows(path, 4);
        EXPECT_EQ(windows.header(), text);
        EXPECT_FALSE(windows.next()) << text;
    }
}

TEST(CsvWindowsMapped, AFileCutShortWhileReadIsADataError) {
    const test::TempDir dir;
    const std::string path = dir.file("cut.csv");
    std::ofstream(path, std::ios::binary) << varied_lines();
    CsvWindows windows(path, 10000);
    ASSERT_TRUE(windows.next());
    const WindowText first = windows.take(windows.body().size());
    std::filesystem::resize_file(path, 20000);
    EXPECT_THROW(windows.next(), DataError);
    EXPECT_THROW(windows.read_range(19000, 5000), DataError);
    EXPECT_EQ(windows.read_range(0, 5), "sessi");
    // The window taken before, inside what is left, still reads.
    EXPECT_EQ(first.body.substr(0, 2), "s0");
}

// The parser over the header and the body apart gives what it gives over
// them as one text: rows, lines, values, dictionaries and errors.
TEST(CsvWindowsMapped, ParserTakesTheHeaderApart) {
    using csv::ColumnSpec;
    using csv::Kind;
    const std::vector<ColumnSpec> specs = {{"id", Kind::text}, {"n", Kind::integer}};
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"id,n\n", "a,1\nb,2\n"},
        {"\xEF\xBB\xBFid,n\r\n", "a,1\r\n\"b\nx\",2\r\nc,3"},
        {"\"i\"\"d\",id,n\n", "q,a,1\n"},
        {"id,n\n", "\n\na,1\n\n"},
    };
    for (const auto& [header, body] : cases) {
        ReadOptions options;
        options.line_offset = 10;
        const csv::Table apart = csv::parse_csv(header, body, "t.csv", specs, options, nullptr);
        const csv::Table joined = csv::parse_csv(header + body, "t.csv", specs, options, nullptr);
        ASSERT_EQ(apart.rows, joined.rows) << body;
        EXPECT_EQ(apart.line, joined.line) << body;
        EXPECT_EQ(apart.columns[0].dictionary, joined.columns[0].dictionary) << body;
        for (int64_t r = 0; r < apart.rows; ++r) {
            EXPECT_EQ(apart.columns[0].values.data<int32_t>()[r], joined.columns[0].values.data<int32_t>()[r]);
            EXPECT_EQ(apart.columns[1].values.data<int32_t>()[r], joined.columns[1].values.data<int32_t>()[r]);
        }
    }
    // Errors name the same file line.
    const auto message = [&](const std::string& header, const std::string& body, bool apart) {
        ReadOptions options;
        options.line_offset = 10;
        try {
            if (apart) csv::parse_csv(header, body, "t.csv", specs, options, nullptr);
            else csv::parse_csv(header + body, "t.csv", specs, options, nullptr);
        } catch (const DataError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    for (const auto& [header, body] : std::vector<std::pair<std::string, std::string>>{
             {"id,n\n", "a,1\nb,x\n"}, {"id,n\n", ""}, {"id,n\n", " \n"}, {"", ""}, {"id\n", "a\n"}, {"id,\"n\n", "a,1\n"}}) {
        const std::string apart = message(header, body, true);
        EXPECT_NE(apart, "no error") << header << body;
        EXPECT_EQ(apart, message(header, body, false)) << header << body;
    }
}

}  // namespace
}  // namespace skipper::data
