#include "trainer/data/csv.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#if defined(__SSE2__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <string_view>

#include "engine/error.h"
#include "trainer/data/csv_blocks.h"
#include "trainer/data/csv_cursor.h"
#include "trainer/data/file_text.h"
#include "trainer/data/text_codes.h"
#include "trainer/data/text_scan.h"

namespace skipper::data::csv {

namespace {

// What a field should have held, for error messages.
std::string expected_text(const ColumnSpec& spec) {
    switch (spec.kind) {
        case Kind::integer:
            if (spec.min == std::numeric_limits<int32_t>::min() && spec.max == std::numeric_limits<int32_t>::max())
                return "an integer";
            if (spec.max == std::numeric_limits<int32_t>::max()) return "an integer >= " + std::to_string(spec.min);
            return "an integer in [" + std::to_string(spec.min) + ", " + std::to_string(spec.max) + "]";
        case Kind::real: return "a number";
        case Kind::boolean: return "a boolean (true/false, True/False or 0/1)";
        case Kind::date: return "a date YYYY-MM-DD";
        case Kind::text: return "text";
        case Kind::choice: {
            std::string out = "one of ";
            for (size_t i = 0; i < spec.values.size(); ++i) out += (i ? ", " : "") + spec.values[i];
            return out;
        }
    }
    return "a value";
}

// The text found, quoted and shortened, for error messages.
std::string found_text(std::string_view text) {
    constexpr size_t kMax = 40;
    std::string out = "'";
    for (char c : text.substr(0, kMax)) {
        if (c == '\r') out += "\\r";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    if (text.size() > kMax) out += "...";
    return out + "'";
}

inline __attribute__((always_inline)) bool parse_bool(std::string_view s, uint8_t& out) {
    switch (s.size()) {
        case 1:
            if (s[0] == '0' || s[0] == '1') { out = static_cast<uint8_t>(s[0] - '0'); return true; }
            return false;
        case 4:
            if (s == "true" || s == "True") { out = 1; return true; }
            return false;
        case 5:
            if (s == "false" || s == "False") { out = 0; return true; }
            return false;
        default: return false;
    }
}

// The columns' numbers are short: counts, positions, hours, and floats of
// at most 9 or 10 digits. Those take a fast path; anything else (exponents,
// long digit runs, odd signs) goes to std::from_chars, which the fast paths
// agree with wherever both apply.

// An optional sign and 1 to 9 digits; false (not handled) otherwise.
inline __attribute__((always_inline)) bool parse_int_fast(std::string_view s, int32_t& out) {
    const char* p = s.data();
    const char* const end = p + s.size();
    const bool negative = p != end && *p == '-';
    if (p != end && (*p == '-' || *p == '+')) ++p;
    if (end - p < 1 || end - p > 9) return false;
    uint32_t value = 0;
    for (; p < end; ++p) {
        const auto digit = static_cast<uint32_t>(*p - '0');
        if (digit > 9) return false;
        value = value * 10 + digit;
    }
    out = negative ? -static_cast<int32_t>(value) : static_cast<int32_t>(value);
    return true;
}

// Whether the 8 bytes at p are all digits; `word` gets them (little-endian: p[0] lowest).
bool eight_digits(const char* p, uint64_t& word) {
    std::memcpy(&word, p, 8);
    // Every byte 0x30-0x39: high nibble 3, and adding 6 keeps it 3.
    return ((word & 0xF0F0F0F0F0F0F0F0ULL) | (((word + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) ==
           0x3333333333333333ULL;
}

// The value of 8 digit bytes, p[0] the most significant: three multiplies
// instead of eight steps (fast_float's parse_eight_digits_unrolled).
uint64_t eight_digits_value(uint64_t word) {
    word -= 0x3030303030303030ULL;
    word = word * 10 + (word >> 8);  // byte 2i: the pair p[2i] * 10 + p[2i + 1]
    word = (((word & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
            (((word >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
    return static_cast<uint32_t>(word);
}

// An optional sign, digits, and optionally '.' and more digits, 19 digits at
// most: the digits as an integer m and the count after the point e. When m
// < 2^53 and e <= 22 both are exact doubles, so m / 10^e is the decimal
// correctly rounded to double; rounding that to float is the decimal
// correctly rounded to float unless the double lies exactly halfway between
// two floats (no double lies between the decimal and such a midpoint), and
// that case is left to from_chars. False when not handled.
// m / 10^e rounded to float (m <= 2^53, e <= 22, both exact doubles), or
// false on a tie. A division takes 13 cycles or more: first m times the
// double nearest 10^-e, within 2 double ulps of m / 10^e (two roundings of
// 2^-53 each). It rounds to the same float as m / 10^e unless a float
// midpoint (29 low bits of exactly one half) lies within those 2 ulps; only
// then is the correctly rounded quotient needed.
bool decimal_to_float(uint64_t mantissa, int after_point, bool negative, float& out) {
    static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    static constexpr double kInversePow10[] = {1e0,   1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                                               1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
                                               1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};
    const auto mantissa_double = static_cast<double>(mantissa);
    double value = mantissa_double * kInversePow10[after_point];
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x1FFFFFFFULL) - (0x10000000ULL - 4) <= 8) {
        value = mantissa_double / kPow10[after_point];
        std::memcpy(&bits, &value, sizeof bits);
        // The 29 bits a float drops are exactly one half: a tie.
        if ((bits & 0x1FFFFFFFULL) == 0x10000000ULL) return false;
    }
    const auto rounded = static_cast<float>(value);
    out = negative ? -rounded : rounded;
    return true;
}

bool parse_real_fast(std::string_view s, float& out) {
    const char* p = s.data();
    const char* const end = p + s.size();
    const bool negative = p != end && *p == '-';
    if (p != end && (*p == '-' || *p == '+')) ++p;
    uint64_t mantissa = 0;
    int digits = 0, after_point = 0;
    const char* const integer_start = p;
    for (; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p, ++digits) mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
    if (p == integer_start) return false;
    if (p < end) {
        if (*p != '.') return false;
        const char* const fraction_start = ++p;
        // The fraction's digits (most of a float's) eight at a time; the product wraps harmlessly where
        // more than 19 digits are refused below.
        for (uint64_t word; end - p >= 8 && eight_digits(p, word); p += 8, digits += 8)
            mantissa = mantissa * 100000000 + eight_digits_value(word);
        for (; p < end && static_cast<unsigned>(*p - '0') <= 9; ++p, ++digits) mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
        after_point = static_cast<int>(p - fraction_start);
        if (p != end || after_point == 0) return false;
    }
    if (digits > 19 || mantissa > (uint64_t{1} << 53) || after_point > 22) return false;
    return decimal_to_float(mantissa, after_point, negative, out);
}

// The common shape of a float field, an optional sign, digits, and
// optionally a point between two digits, 16 bytes at most after the sign,
// without a loop or a branch on its shape (a branch on the digit counts,
// which vary field to field, mispredicts): its bytes are checked 16 at once,
// one byte shuffle drops the point and aligns the digits to the right with
// zeros in front, and multiply-adds sum the 16 digits (simdjson's
// parse_eight_digits, twice). `after` counts the bytes that may be read from
// the field's start; false (not handled) when the field is not of this shape
// or lies too near the end.
bool parse_real_shaped(std::string_view s, size_t after, float& out) {
#ifdef __SSE4_1__
    const char* p = s.data();
    const char* const end = p + s.size();
    const bool negative = p != end && *p == '-';
    const bool sign = p != end && (*p == '-' || *p == '+');
    p += sign;
    const auto n = static_cast<int>(end - p);
    if (n < 1 || n > 16 || after < 16 + static_cast<size_t>(sign)) return false;
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i offset = _mm_sub_epi8(block, _mm_set1_epi8('0'));
    const auto digit = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(offset, _mm_set1_epi8(9)), offset)));
    const auto point = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8('.'))));
    const uint32_t field = (uint32_t{1} << n) - 1;
    const uint32_t points = point & field;
    // Digits but for one point at most, which has a digit on each side (k: its index, -1 when none).
    const int k = points == 0 ? -1 : std::countr_zero(points);
    if (((digit | points) & field) != field || (points & (points - 1)) != 0 || k == 0 || k == n - 1) return false;
    // Byte j of the 16 digits takes the field's byte i = j - (16 - n), or i - 1 up to the point (the
    // integer digits move one byte up over it); a negative i (bit 7 set) reads as zero.
    __m128i index = _mm_add_epi8(_mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                 _mm_set1_epi8(static_cast<char>(n - 16)));
    index = _mm_add_epi8(index, _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(k + 1)), index));
    const __m128i digits = _mm_shuffle_epi8(offset, index);
    // Pairs, fours, eights of digits: 8 x u16, 4 x u32 (< 10^4, packed to u16), 2 x u32.
    const __m128i pairs = _mm_maddubs_epi16(digits, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1));
    const __m128i fours = _mm_madd_epi16(pairs, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    const __m128i eights = _mm_madd_epi16(_mm_packus_epi32(fours, fours),
                                          _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    const uint64_t mantissa = uint64_t{static_cast<uint32_t>(_mm_cvtsi128_si32(eights))} * 100000000 +
                              static_cast<uint32_t>(_mm_extract_epi32(eights, 1));
    // With a point at most 15 digits, so m < 2^53; 16 digits without one may not be.
    if (mantissa > (uint64_t{1} << 53)) return false;
    return decimal_to_float(mantissa, k < 0 ? 0 : n - 1 - k, negative, out);
#else
    (void)s, (void)after, (void)out;
    return false;
#endif
}

inline __attribute__((always_inline)) bool parse_int(std::string_view s, int32_t& out) {
    if (parse_int_fast(s, out)) return true;
    const char* first = s.data();
    const char* last = first + s.size();
    if (first != last && *first == '+') ++first;
    const auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && ptr == last && first != last;
}

// The fields that parse_real_shaped does not take.
__attribute__((noinline)) bool parse_real_other(std::string_view s, float& out) {
    if (s.empty()) {
        out = std::numeric_limits<float>::quiet_NaN();
        return true;
    }
    if (parse_real_fast(s, out)) return true;
    const char* first = s.data();
    const char* last = first + s.size();
    if (*first == '+') ++first;
    const auto [ptr, ec] = std::from_chars(first, last, out);
    return ec == std::errc() && ptr == last && first != last;
}

// `after`: as for parse_real_shaped (0 when unknown).
inline __attribute__((always_inline)) bool parse_real(std::string_view s, float& out, size_t after = 0) {
    return parse_real_shaped(s, after, out) || parse_real_other(s, out);
}

bool parse_date(std::string_view s, int32_t& out) {
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
    int year = 0, month = 0, day = 0;
    for (int i : {0, 1, 2, 3, 5, 6, 8, 9})
        if (s[i] < '0' || s[i] > '9') return false;
    year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    month = (s[5] - '0') * 10 + (s[6] - '0');
    day = (s[8] - '0') * 10 + (s[9] - '0');
    if (month < 1 || month > 12 || day < 1) return false;
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
    out = days_from_civil(year, month, day);
    return true;
}

// A text value of the current row, entered into its dictionary only once the
// whole row is good.
struct PendingText {
    std::string_view text;
    bool from_scratch = false;  // a quoted field's text, copied out of the cursor's scratch
    bool repeat = false;        // the dictionary's last value again
    uint64_t hash = 0;          // TextCodes::hash(text) when not a repeat
};

// Dictionary of one text column within one chunk. Consecutive rows often
// repeat a value (a session's id, its context), so the last one is remembered.
// A good row's values are entered one row late: when a row is found good its
// values' texts start loading (stage two of the prefetch, the slot having been
// asked for when the field was cut), and the row before it is entered; so a
// probe finds both its slot and the text it compares in cache.
struct LocalDictionary {
    TextCodes codes;
    std::deque<std::string> owned;  // texts that came from quoted fields
    // The texts as strings, code by code, when `keep_strings`: the table's
    // dictionary, copied while each new text is still in cache (a copy made
    // after the chunk reads every text from memory again).
    bool keep_strings = false;
    std::vector<std::string> strings;
    int32_t last_code = -1;         // the code of the value last entered
    std::string_view recent;        // the value of the latest good row (entered or held)
    bool has_recent = false;

    // Notes a value when its field is cut; a new one's slot starts loading
    // then. Written member by member: a whole struct built on the stack and
    // copied in stalled on store forwarding.
    void pend(std::string_view text, bool from_scratch, PendingText& pending) const {
        pending.text = text;
        pending.from_scratch = from_scratch;
        pending.repeat = has_recent && same_text(text, recent);
        if (!pending.repeat) {
            pending.hash = TextCodes::hash(text);
            codes.prefetch(pending.hash);
        }
    }

    // A good row's value, held until the next good row: its text starts loading.
    void hold(const PendingText& pending) {
        recent = pending.text;
        has_recent = true;
        if (!pending.repeat) codes.prefetch_text(pending.hash);
    }

    // The code of a held value, adding it if new. Rows are entered in order,
    // so the last value entered is the `recent` that pend() compared with.
    int32_t code(const PendingText& pending) {
        if (pending.repeat) return last_code;
        const size_t known = codes.size();
        int32_t c;
        if (pending.from_scratch) {
            c = codes.find(pending.text, pending.hash);
            if (c < 0) c = codes.insert(owned.emplace_back(pending.text), pending.hash);
        } else {
            c = codes.insert(pending.text, pending.hash);
        }
        if (keep_strings && codes.size() > known) strings.emplace_back(pending.text);
        last_code = c;
        return c;
    }

    // Makes room for the texts that `rows` rows would bring at the rate seen
    // in the first `seen` rows, so that a column of mostly new texts (track
    // ids) does not rehash its table a dozen times per chunk.
    void forecast(int64_t seen, int64_t rows) {
        const auto expected = static_cast<int64_t>(codes.size()) * rows / seen;
        codes.reserve(static_cast<size_t>(expected) + 1);
        if (keep_strings) strings.reserve(static_cast<size_t>(expected) + 1);
    }
};

// The last date parsed in one column: a session's rows share their date.
struct DateMemo {
    char text[10] = {};
    int32_t days = 0;
    bool valid = false;
};

struct Problem {
    int64_t local_line = 0;  // 0-based line within the chunk
    std::string column;
    std::string what;
};

struct ChunkResult {
    int64_t rows = 0;
    int64_t lines = 0;
    int64_t skipped = 0;
    std::vector<Problem> problems;
    std::vector<LocalDictionary> dictionaries;  // per column (used by text columns)
};

// Where each column's values go.
struct ColumnSink {
    Kind kind;
    void* base;
};

// Chunk boundaries at record starts. Quotes may hide newlines, and a quote is
// a quote only where the reader takes it as one (a quote inside an unquoted
// field is text), so when the data holds any quote the records are walked
// with the reader's own FieldCursor up to each boundary: a parity count of
// the quotes would cut a record after a stray quote.
std::vector<const char*> chunk_boundaries(const char* begin, const char* end, int64_t chunks) {
    std::vector<const char*> bounds{begin};
    // (One chunk needs no cut: no search of the whole text for a quote.)
    const bool has_quotes = chunks > 1 && std::memchr(begin, '"', static_cast<size_t>(end - begin)) != nullptr;
    const auto size = end - begin;
    FieldCursor records(begin, end);
    for (int64_t k = 1; k < chunks; ++k) {
        const char* p = std::max(bounds.back(), begin + size * k / chunks);
        if (p <= bounds.back()) continue;
        if (has_quotes) {
            std::string_view value;
            while (!records.at_end() && records.position() < p)
                for (bool done = false; !done;) records.next(value, done);
            p = records.position();
            if (p >= end) break;
            bounds.push_back(p);
            continue;
        }
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        if (nl == nullptr) break;
        bounds.push_back(nl + 1);
    }
    bounds.push_back(end);
    return bounds;
}

}  // namespace

Table read_csv(const std::string& path, const std::vector<ColumnSpec>& specs, const ReadOptions& options,
               ReadReport* report) {
    const FileText file(path);
    return parse_csv(file.text(), path, specs, options, report);
}

Table parse_csv(std::string_view text, const std::string& path, const std::vector<ColumnSpec>& specs,
                const ReadOptions& options, ReadReport* report) {
    return parse_csv(text, std::string_view(), path, specs, options, report);
}

Table parse_csv(std::string_view header_text, std::string_view body, const std::string& path,
                const std::vector<ColumnSpec>& specs, const ReadOptions& options, ReadReport* report) {
    if (header_text.substr(0, 3) == "\xEF\xBB\xBF") header_text.remove_prefix(3);
    std::string expected_columns;
    for (size_t i = 0; i < specs.size(); ++i) expected_columns += (i ? ", " : "") + specs[i].name;
    if (header_text.find_first_not_of(" \t\r\n") == std::string_view::npos &&
        body.find_first_not_of(" \t\r\n") == std::string_view::npos)
        throw DataError(path, 0, "", "the file is empty: expected a header line naming the columns " + expected_columns);

    // Header: field index -> spec index.
    FieldCursor header(header_text.data(), header_text.data() + header_text.size());
    std::vector<std::string> header_names;
    for (bool done = false; !done;) {
        std::string_view name;
        if (!header.next(name, done)) throw DataError(path, 1, "", "unterminated quote in the header");
        header_names.emplace_back(name);
    }
    const int64_t header_lines = 1 + header.newlines_in_quotes() + options.line_offset;
    std::vector<int> spec_of_field(header_names.size(), -1);
    for (size_t s = 0; s < specs.size(); ++s) {
        const auto it = std::find(header_names.begin(), header_names.end(), specs[s].name);
        if (it == header_names.end()) {
            std::string have;
            for (size_t i = 0; i < header_names.size(); ++i) have += (i ? ", " : "") + header_names[i];
            throw DataError(path, 1, specs[s].name,
                            "missing required column '" + specs[s].name + "'; the header has: " + have);
        }
        const auto field = static_cast<size_t>(it - header_names.begin());
        if (spec_of_field[field] < 0) spec_of_field[field] = static_cast<int>(s);
    }
    // The header's first record may end before header_text does (the one-text
    // form passes the whole text; stray quotes): the rest is data, as in one text.
    const auto header_size = static_cast<size_t>(header.position() - header_text.data());
    std::string joined;
    if (header_size < header_text.size()) {
        if (body.empty()) {
            body = header_text.substr(header_size);
        } else {
            joined.assign(header_text.substr(header_size)).append(body);
            body = joined;
        }
    }
    const char* const data_begin = body.data();
    const char* const data_end = body.data() + body.size();
    if (std::string_view(data_begin, static_cast<size_t>(data_end - data_begin)).find_first_not_of(" \t\r\n") ==
        std::string_view::npos)
        throw DataError(path, header_lines + 1, "", "the file has a header but no data rows");

    const int threads = options.num_threads > 0 ? options.num_threads : omp_get_max_threads();
    constexpr int64_t kMinChunkBytes = 1 << 20;
    const int64_t bytes = data_end - data_begin;
    // One chunk per thread: every extra chunk adds its dictionary to the serial merge below.
    const int64_t wanted = std::clamp<int64_t>(bytes / kMinChunkBytes, 1, int64_t{threads});
    const std::vector<const char*> bounds = chunk_boundaries(data_begin, data_end, wanted);
    const auto chunks = static_cast<int64_t>(bounds.size()) - 1;

    // Row capacity of each chunk: its newline count, plus one for an unterminated last line.
    std::vector<int64_t> capacity_offset(static_cast<size_t>(chunks) + 1, 0);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t k = 0; k < chunks; ++k)
        capacity_offset[k + 1] = count_newlines(bounds[k], bounds[k + 1]) + 1;
    for (int64_t k = 0; k < chunks; ++k) capacity_offset[k + 1] += capacity_offset[k];
    const int64_t capacity = capacity_offset[chunks];

    Table table;
    std::vector<ColumnSink> sinks;
    for (const auto& spec : specs) {
        const DType dtype = spec.kind == Kind::real ? DType::f32 : spec.kind == Kind::boolean ? DType::u8 : DType::i32;
        table.columns.push_back(Column{Tensor::empty({capacity}, dtype), {}});
        sinks.push_back({spec.kind, table.columns.back().values.raw()});
    }
    table.line.resize(static_cast<size_t>(capacity));

    const bool skip_bad = options.on_bad_row == OnBadRow::skip;
    const auto field_count = static_cast<int64_t>(header_names.size());
    std::vector<ChunkResult> results(static_cast<size_t>(chunks));

    // The text columns, whose values are entered at the end of each good row.
    std::vector<int> text_specs;
    for (size_t s = 0; s < specs.size(); ++s)
        if (specs[s].kind == Kind::text) text_specs.push_back(static_cast<int>(s));

#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int64_t k = 0; k < chunks; ++k) {
        ChunkResult& result = results[k];
        result.dictionaries.resize(specs.size());
        // One chunk and no seed values: its codes are the file's, and the strings its dictionary (see below).
        for (const int s : text_specs) result.dictionaries[s].keep_strings = chunks == 1 && specs[s].values.empty();
        const int64_t base = capacity_offset[k];
        const char* const chunk_begin = bounds[k];
        const char* const chunk_end = bounds[k + 1];
        FieldCursor cursor(chunk_begin, chunk_end);
        Structurals structurals(chunk_end);
        // The current row's text values, and the held row's (see LocalDictionary).
        std::vector<PendingText> pending_text[2] = {std::vector<PendingText>(specs.size()),
                                                    std::vector<PendingText>(specs.size())};
        std::vector<std::string> pending_owned[2] = {std::vector<std::string>(specs.size()),
                                                     std::vector<std::string>(specs.size())};
        int current = 0;
        int64_t held_row = -1;
        const auto enter_held = [&] {
            for (const int s : text_specs)
                static_cast<int32_t*>(sinks[s].base)[held_row] = result.dictionaries[s].code(pending_text[1 - current][s]);
        };
        std::vector<DateMemo> dates(specs.size());

        // Parses one field's value into its column's row; text is only pended. False when malformed.
        const auto store = [&](int s, std::string_view value, int64_t row) __attribute__((always_inline)) {
            // The kinds that fill most fields (floats of the track features, the logs' flags) are tested
            // first: a conditional branch each, which predicts better than the switch's one indirect jump.
            const ColumnSink sink = sinks[s];
            const bool quoted = value.data() < chunk_begin || value.data() >= chunk_end;
            if (sink.kind == Kind::real) {
                float& out = static_cast<float*>(sink.base)[row];
                if (quoted) return parse_real(value, out);
                return parse_real(value, out, static_cast<size_t>(chunk_end - value.data()));
            }
            if (sink.kind == Kind::boolean) return parse_bool(value, static_cast<uint8_t*>(sink.base)[row]);
            const ColumnSpec& spec = specs[s];
            switch (sink.kind) {
                case Kind::integer: {
                    int32_t number = 0;
                    const bool ok = parse_int(value, number) && number >= spec.min && number <= spec.max;
                    static_cast<int32_t*>(sink.base)[row] = number;
                    return ok;
                }
                case Kind::real:
                case Kind::boolean: break;  // parsed above
                case Kind::date: {
                    DateMemo& memo = dates[s];
                    int32_t& out = static_cast<int32_t*>(sink.base)[row];
                    if (memo.valid && value.size() == 10 && std::memcmp(value.data(), memo.text, 10) == 0) {
                        out = memo.days;
                        return true;
                    }
                    if (!parse_date(value, out)) return false;
                    std::memcpy(memo.text, value.data(), 10);
                    memo.days = out;
                    memo.valid = true;
                    return true;
                }
                case Kind::text: {
                    if (quoted) {
                        pending_owned[current][s].assign(value);
                        value = pending_owned[current][s];
                    }
                    result.dictionaries[s].pend(value, quoted, pending_text[current][s]);
                    return !value.empty();
                }
                case Kind::choice: {
                    const auto it = std::find(spec.values.begin(), spec.values.end(), value);
                    if (it == spec.values.end()) return false;
                    static_cast<int32_t*>(sink.base)[row] = static_cast<int32_t>(it - spec.values.begin());
                    return true;
                }
            }
            return false;
        };

        // The common record, cut by the structural index: exactly the header's
        // field count, no quote or '\r' anywhere, ended by a newline within the
        // chunk, every value good. Anything else (a blank line, a bad value, a
        // quote, CRLF, a short or long line, an unterminated last line) returns
        // false having kept nothing, and the record is read again by the exact
        // path below, which finds its problem (so errors read the same).
        const auto plain_record = [&](const char* start, int64_t row, const char*& record_end) {
            if (*start == '\n') return false;
            for (int64_t field = 0; field < field_count; ++field) {
                const char* stop = structurals.next();
                if (stop == chunk_end) return false;
                const char c = *stop;
                if (c != (field + 1 == field_count ? '\n' : ',')) return false;
                const int s = spec_of_field[field];
                if (s >= 0 && !store(s, std::string_view(start, static_cast<size_t>(stop - start)), row)) return false;
                start = stop + 1;
            }
            record_end = start;
            return true;
        };

        int64_t line = 0;  // 0-based line of the current record within the chunk
        Problem row_problem;
        bool in_step = false;  // whether the structural index stands at the cursor
        while (!cursor.at_end()) {
            const int64_t row = base + result.rows;
            const int64_t record_line = line;
            if (!in_step) structurals.seek(cursor.position());
            const char* record_end = nullptr;
            in_step = plain_record(cursor.position(), row, record_end);
            if (in_step) {
                cursor.skip_to(record_end);
                ++line;
            } else {
                if (cursor.skip_blank_line()) {
                    ++line;
                    continue;
                }
                const int64_t quoted_newlines_before = cursor.newlines_in_quotes();
                Problem& problem = row_problem;  // written only when the row is bad
                bool bad = false;
                int64_t field = 0;
                for (bool done = false; !done; ++field) {
                    std::string_view value;
                    const bool closed = cursor.next(value, done);
                    if (bad) continue;
                    if (!closed) {
                        bad = true;
                        problem = {line, field < field_count ? header_names[field] : "",
                                   "unterminated quoted field starting " + found_text(value)};
                        continue;
                    }
                    if (field >= field_count) continue;
                    const int s = spec_of_field[field];
                    if (s < 0 || store(s, value, row)) continue;
                    const ColumnSpec& spec = specs[s];
                    bad = true;
                    problem = {line, spec.name,
                               "found " + found_text(value) + " in field " + std::to_string(field + 1) + ", expected " +
                                   (spec.kind == Kind::text ? std::string("a non-empty value") : expected_text(spec))};
                }
                if (!bad && field != field_count) {
                    bad = true;
                    if (field < field_count)
                        problem = {line, header_names[field],
                                   "the line ends after " + std::to_string(field) + " of " + std::to_string(field_count) +
                                       " fields (truncated line?): expected a value for '" + header_names[field] + "'"};
                    else
                        problem = {line, "",
                                   "found " + std::to_string(field) + " fields, expected " + std::to_string(field_count) +
                                       " as in the header"};
                }
                line += 1 + (cursor.newlines_in_quotes() - quoted_newlines_before);
                if (bad) {
                    ++result.skipped;
                    if (!skip_bad || result.problems.size() < ReadReport::kMaxProblems) result.problems.push_back(problem);
                    if (!skip_bad) break;
                    continue;
                }
            }
            for (const int s : text_specs) result.dictionaries[s].hold(pending_text[current][s]);
            if (held_row >= 0) enter_held();
            held_row = row;
            current = 1 - current;
            table.line[row] = record_line;
            ++result.rows;
            constexpr int64_t kForecastRows = 256;
            if (result.rows == kForecastRows) {
                const int64_t chunk_rows = capacity_offset[k + 1] - capacity_offset[k];
                for (const int s : text_specs) result.dictionaries[s].forecast(kForecastRows, chunk_rows);
            }
        }
        if (held_row >= 0) enter_held();
        result.lines = line;
    }

    // First line of each chunk, then the first error (in file order) or the skip report.
    std::vector<int64_t> first_line(static_cast<size_t>(chunks) + 1, header_lines + 1);
    for (int64_t k = 0; k < chunks; ++k) first_line[k + 1] = first_line[k] + results[k].lines;
    int64_t skipped = 0;
    std::vector<std::string> problems;
    for (int64_t k = 0; k < chunks; ++k) {
        for (const auto& problem : results[k].problems) {
            if (!skip_bad) throw DataError(path, first_line[k] + problem.local_line, problem.column, problem.what);
            if (problems.size() < ReadReport::kMaxProblems)
                problems.push_back(DataError(path, first_line[k] + problem.local_line, problem.column, problem.what).what());
        }
        skipped += results[k].skipped;
    }

    // Merge the text dictionaries in chunk order; codes follow first appearance in the file.
    std::vector<std::vector<int32_t>> remap(specs.size() * static_cast<size_t>(chunks));
    for (size_t s = 0; s < specs.size(); ++s) {
        if (specs[s].kind != Kind::text) continue;
        std::vector<std::string>& names = table.columns[s].dictionary;
        if (results[0].dictionaries[s].keep_strings) {
            // One chunk (a window parsed on one thread): its codes are already the file's.
            names = std::move(results[0].dictionaries[s].strings);
            continue;
        }
        TextCodes global;
        for (const auto& v : specs[s].values) global.insert(v);
        for (int64_t k = 0; k < chunks; ++k) {
            auto& map = remap[s * static_cast<size_t>(chunks) + static_cast<size_t>(k)];
            const auto& local = results[k].dictionaries[s].codes.names();
            map.reserve(local.size());
            for (std::string_view name : local) map.push_back(global.insert(name));
        }
        names.assign(global.names().begin(), global.names().end());
    }

    // Compact the chunks' rows to the front, translating local codes and lines.
    std::vector<int64_t> out_offset(static_cast<size_t>(chunks) + 1, 0);
    for (int64_t k = 0; k < chunks; ++k) out_offset[k + 1] = out_offset[k] + results[k].rows;
    const int64_t rows = out_offset[chunks];
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t k = 0; k < chunks; ++k) {
        const int64_t from = capacity_offset[k];
        const int64_t n = results[k].rows;
        for (size_t s = 0; s < specs.size(); ++s) {
            const auto& map = remap[s * static_cast<size_t>(chunks) + static_cast<size_t>(k)];
            if (specs[s].kind != Kind::text || map.empty()) continue;  // no remap: the codes stand
            auto* codes = static_cast<int32_t*>(sinks[s].base) + from;
            for (int64_t i = 0; i < n; ++i) codes[i] = map[static_cast<size_t>(codes[i])];
        }
        for (int64_t i = 0; i < n; ++i) table.line[from + i] += first_line[k];
    }
    // Sequential: a chunk's rows only ever move towards the front.
    for (int64_t k = 1; k < chunks; ++k) {
        if (out_offset[k] == capacity_offset[k]) continue;
        const int64_t n = results[k].rows;
        for (size_t s = 0; s < specs.size(); ++s) {
            const size_t width = dtype_size(table.columns[s].values.dtype());
            auto* bytes_base = static_cast<char*>(sinks[s].base);
            std::memmove(bytes_base + out_offset[k] * width, bytes_base + capacity_offset[k] * width,
                         static_cast<size_t>(n) * width);
        }
        std::memmove(table.line.data() + out_offset[k], table.line.data() + capacity_offset[k],
                     static_cast<size_t>(n) * sizeof(int64_t));
    }
    for (auto& column : table.columns) column.values = column.values.slice_rows(0, rows);
    table.line.resize(static_cast<size_t>(rows));
    table.rows = rows;

    if (report != nullptr) {
        report->rows_read += rows;
        report->rows_skipped += skipped;
        for (auto& p : problems)
            if (report->problems.size() < ReadReport::kMaxProblems) report->problems.push_back(std::move(p));
    }
    return table;
}

}  // namespace skipper::data::csv
