// .npy files: round trips, a file laid out byte for byte as numpy.save writes
// it, and malformed files refused with the file named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "tests/test_util.h"
#include "trainer/data/npy.h"

namespace skipper {
namespace {

std::string temp_path(const std::string& name) {
    return test::scratch_path(name);
}

template <class T> void check_round_trip(const Shape& shape) {
    const Tensor t = test::random_tensor<T>(shape, 3, 0.0, 100.0);
    const std::string path = temp_path("round_trip.npy");
    data::write_npy(path, t);
    const Tensor back = data::read_npy(path);
    std::filesystem::remove(path);
    EXPECT_EQ(back.shape(), shape);
    EXPECT_EQ(back.dtype(), dtype_of<T>());
    EXPECT_EQ(back.to_vector<T>(), t.to_vector<T>());
}

TEST(Npy, RoundTripsEveryDtypeAndRank) {
    check_round_trip<float>({7, 3});
    check_round_trip<double>({5});
    check_round_trip<int32_t>({2, 3, 4});
    check_round_trip<uint8_t>({0, 4});
}

TEST(Npy, ReadsTheLayoutNumpyWrites) {
    // numpy.save(np.array([[1, 2, 3], [4, 5, 6]], dtype='<f4')): 10-byte preamble,
    // header padded with spaces to 128 bytes in all, ending in a newline.
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    header.append(128 - 10 - header.size() - 1, ' ');
    header += '\n';
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
    bytes += static_cast<char>(header.size());
    bytes += '\0';
    bytes += header;
    const float values[] = {1, 2, 3, 4, 5, 6};
    bytes.append(reinterpret_cast<const char*>(values), sizeof values);
    const std::string path = temp_path("numpy_layout.npy");
    std::ofstream(path, std::ios::binary) << bytes;
    const Tensor t = data::read_npy(path);
    std::filesystem::remove(path);
    EXPECT_EQ(t.shape(), (Shape{2, 3}));
    EXPECT_EQ(t.to_vector<float>(), std::vector<float>({1, 2, 3, 4, 5, 6}));
}

TEST(Npy, MalformedFilesAreRefusedNamingTheFile) {
    const std::string path = temp_path("bad.npy");
    data::write_npy(path, test::random_tensor<float>({4, 4}, 1));
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    auto expect_refused = [&](const std::string& content, const std::string& fragment) {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
        try {
            data::read_npy(path);
            FAIL() << "expected a DataError mentioning " << fragment;
        } catch (const DataError& e) {
            EXPECT_EQ(e.file(), path);
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    expect_refused(bytes.substr(0, bytes.size() - 4), "data bytes");
    expect_refused("PK\x03\x04 not numpy", "magic");
    std::string fortran = bytes;
    fortran.replace(fortran.find("False"), 5, "True ");
    expect_refused(fortran, "fortran_order");
    std::string big_endian = bytes;
    big_endian.replace(big_endian.find("<f4"), 3, ">f4");
    expect_refused(big_endian, "dtype");
    std::filesystem::remove(path);
    EXPECT_THROW(data::read_npy(temp_path("does_not_exist.npy")), DataError);
}

}  // namespace
}  // namespace skipper
