// CsvWindows over a .csv.gz inflates as it goes: the same windows, lines and
// ranges as over the plain file, with ranges far apart (more than one
// inflated piece between them) and the text's end found without a size.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

#include "../tools/tools_test_util.h"
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

}  // namespace
}  // namespace skipper::data
