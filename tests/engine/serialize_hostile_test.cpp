// The model container against hostile files: files written byte by byte, each
// with one field out of range and a valid size and checksum (recomputed, as an
// attacker would), are refused with a FormatError naming the field, before any
// allocation the file cannot back.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/serialize.h"

namespace skipper {
namespace {

// Writes the container's fields in order; sealed() patches the total size and
// appends the checksum exactly as serialize_model does.
class RawFile {
public:
    RawFile() {
        bytes_ = std::string("SKIPPER\x1a", 8);
        u32(kModelFormatVersion);
        u64(0);
    }
    RawFile& u8(uint8_t v) { return put(&v, 1); }
    RawFile& u32(uint32_t v) { return put(&v, 4); }
    RawFile& u64(uint64_t v) { return put(&v, 8); }
    RawFile& i64(int64_t v) { return put(&v, 8); }
    RawFile& str(const std::string& s) {
        u32(static_cast<uint32_t>(s.size()));
        return put(s.data(), s.size());
    }
    RawFile& put(const void* data, size_t size) {
        bytes_.append(static_cast<const char*>(data), size);
        return *this;
    }
    std::vector<uint8_t> sealed() const {
        std::string out = bytes_;
        const uint64_t total = out.size() + 8;
        std::memcpy(out.data() + 12, &total, 8);
        const uint64_t checksum = fnv1a64(reinterpret_cast<const uint8_t*>(out.data()), out.size());
        out.append(reinterpret_cast<const char*>(&checksum), 8);
        return std::vector<uint8_t>(out.begin(), out.end());
    }

private:
    std::string bytes_;
};

// One metadata entry, then the tensor records `tensors` (already written).
RawFile with_tensors(uint32_t count) {
    RawFile f;
    f.u32(1).str("model").str("gbdt").u32(count);
    return f;
}

void expect_refused(const std::vector<uint8_t>& bytes, const std::string& message) {
    try {
        deserialize_model(bytes, "crafted.skm");
        ADD_FAILURE() << "accepted; expected: " << message;
    } catch (const FormatError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("crafted.skm"), std::string::npos) << what;
        EXPECT_NE(what.find(message), std::string::npos) << what;
    }
}

TEST(SerializeHostile, TheHandWrittenFileParses) {
    const float values[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
    RawFile f = with_tensors(1);
    f.str("w").u8(0).u32(2).i64(2).i64(3).u64(24).put(values, 24);
    const ModelFile m = deserialize_model(f.sealed(), "crafted.skm");
    EXPECT_EQ(m.meta("model"), "gbdt");
    EXPECT_EQ(m.tensor("w").shape(), (Shape{2, 3}));
    EXPECT_EQ(m.tensor("w").to_vector<float>(), std::vector<float>(values, values + 6));
    EXPECT_EQ(serialize_model(m), f.sealed());
}

TEST(SerializeHostile, CountsAndLengthsPastTheFileAreRefused) {
    expect_refused(RawFile().u32(0xffffffffu).sealed(), "metadata key runs past the end");
    expect_refused(RawFile().u32(1).u32(0x7fffffffu).sealed(), "metadata key runs past the end");
    expect_refused(RawFile().u32(1).str("k").u32(1u << 31).sealed(), "metadata value runs past the end");
    expect_refused(RawFile().u32(0).u32(0xffffffffu).sealed(), "tensor name runs past the end");
    expect_refused(with_tensors(1).u32(1u << 30).sealed(), "tensor name runs past the end");
    expect_refused(RawFile().u32(0).sealed(), "tensor count runs past the end");
}

TEST(SerializeHostile, TensorHeadersOutOfRangeAreRefused) {
    expect_refused(with_tensors(1).str("w").u8(9).u32(1).i64(1).u64(4).u32(0).sealed(), "unknown dtype 9");
    expect_refused(with_tensors(1).str("w").u8(0).u32(1000).sealed(), "tensor 'w' has rank 1000");
    expect_refused(with_tensors(1).str("w").u8(0).u32(1).i64(-1).u64(0).sealed(), "negative dimension");
    // A byte count that the rest of the file cannot hold: refused before allocating it.
    expect_refused(with_tensors(1).str("w").u8(0).u32(1).i64(int64_t{1} << 40).u64(uint64_t{1} << 42).sealed(),
                   "tensor data runs past the end");
    expect_refused(with_tensors(1).str("w").u8(0).u32(1).i64(1).u64(~uint64_t{0}).sealed(),
                   "tensor data runs past the end");
    // Shape and byte count disagree, including shapes whose product wraps
    // around to the byte count.
    expect_refused(with_tensors(1).str("w").u8(0).u32(1).i64(2).u64(4).u32(0).sealed(), "does not match its byte count");
    expect_refused(with_tensors(1).str("w").u8(3).u32(2).i64(int64_t{1} << 62).i64(4).u64(0).sealed(),
                   "impossibly large shape");
    expect_refused(with_tensors(1)
                       .str("w").u8(3).u32(3).i64(int64_t{1} << 32).i64(int64_t{1} << 32).i64(0).u64(0)
                       .sealed(),
                   "impossibly large shape");
    expect_refused(with_tensors(1).str("w").u8(1).u32(1).i64(int64_t{1} << 61).u64(0).sealed(),
                   "does not match its byte count");
}

TEST(SerializeHostile, NamesGivenTwiceAreRefused) {
    expect_refused(RawFile().u32(2).str("k").str("a").str("k").str("b").u32(0).sealed(),
                   "metadata key 'k' appears twice");
    expect_refused(with_tensors(2).str("w").u8(3).u32(1).i64(1).u64(1).u8(7).str("w").u8(3).u32(1).i64(1).u64(1).u8(8)
                       .sealed(),
                   "tensor 'w' appears twice");
}

TEST(SerializeHostile, TrailingBytesAreRefused) {
    expect_refused(with_tensors(0).u8(0).sealed(), "trailing bytes");
}

}  // namespace
}  // namespace skipper
