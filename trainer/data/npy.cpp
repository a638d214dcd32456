#include "trainer/data/npy.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "engine/error.h"
#include "engine/serialize.h"

namespace skipper::data {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kMaxHeaderBytes = size_t{1} << 20;

const char* descr_of(DType dtype) {
    switch (dtype) {
        case DType::f32: return "<f4";
        case DType::f64: return "<f8";
        case DType::i32: return "<i4";
        case DType::u8: return "|u1";
    }
    return "";
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
    throw DataError(path, 1, "header", "not a readable .npy file: " + what);
}

// The value of 'key' in the header dictionary, up to the next top-level comma or brace.
std::string header_value(const std::string& header, const std::string& key, const std::string& path) {
    const std::string quoted = "'" + key + "'";
    size_t at = header.find(quoted);
    if (at == std::string::npos) bad(path, "the header has no " + quoted);
    at = header.find(':', at + quoted.size());
    if (at == std::string::npos) bad(path, "no value for " + quoted);
    ++at;
    while (at < header.size() && header[at] == ' ') ++at;
    size_t end = at;
    if (end < header.size() && header[end] == '(') {
        end = header.find(')', end);
        if (end == std::string::npos) bad(path, "unterminated shape");
        ++end;
    } else {
        while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
    }
    return header.substr(at, end - at);
}

}  // namespace

void write_npy(const std::string& path, const Tensor& tensor) {
    if (!tensor.defined() || tensor.device() != Device::cpu) throw Error("write_npy: expected a host tensor for " + path);
    std::string shape = "(";
    for (int64_t d : tensor.shape()) shape += std::to_string(d) + ", ";
    if (tensor.dim() > 1) shape.resize(shape.size() - 2);
    else if (tensor.dim() == 1) shape.resize(shape.size() - 1);
    shape += ")";
    std::string header = std::string("{'descr': '") + descr_of(tensor.dtype()) + "', 'fortran_order': False, 'shape': " +
                         shape + ", }";
    // Magic, version and length take 10 bytes; pad so the data starts 64-byte aligned.
    const size_t unpadded = kMagicBytes + 4 + header.size() + 1;
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
    std::string bytes(kMagic, kMagicBytes);
    bytes += '\x01';
    bytes += '\x00';
    const auto length = static_cast<uint16_t>(header.size());
    bytes += static_cast<char>(length & 0xff);
    bytes += static_cast<char>(length >> 8);
    bytes += header;
    bytes.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
    write_file_atomically(path, bytes);
}

Tensor read_npy(const std::string& path) {
    // The header is read first and the data straight into the tensor: the
    // matrix is held once, as numpy's own load holds it.
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw DataError(path, 0, "", "cannot open .npy file");
    const auto file_bytes = static_cast<size_t>(in.tellg());
    in.seekg(0);
    const auto read_exactly = [&](char* out, size_t count) {
        if (!in.read(out, static_cast<std::streamsize>(count))) throw DataError(path, 0, "", "cannot read .npy file");
    };
    char prologue[12] = {};
    if (file_bytes < kMagicBytes + 4) bad(path, "missing the \\x93NUMPY magic");
    read_exactly(prologue, std::min(file_bytes, sizeof(prologue)));
    if (std::memcmp(prologue, kMagic, kMagicBytes) != 0) bad(path, "missing the \\x93NUMPY magic");
    const auto major = static_cast<uint8_t>(prologue[6]);
    size_t header_length = 0, header_start = 0;
    if (major == 1) {
        header_length = static_cast<uint8_t>(prologue[8]) | static_cast<size_t>(static_cast<uint8_t>(prologue[9])) << 8;
        header_start = 10;
    } else if (major == 2 || major == 3) {
        if (file_bytes < 12) bad(path, "truncated header length");
        for (int i = 0; i < 4; ++i) header_length |= static_cast<size_t>(static_cast<uint8_t>(prologue[8 + i])) << (8 * i);
        header_start = 12;
    } else {
        bad(path, "unknown format version " + std::to_string(major));
    }
    if (header_start + header_length > file_bytes) bad(path, "the header runs past the end of the file");
    if (header_length > kMaxHeaderBytes) bad(path, "a header of " + std::to_string(header_length) + " bytes (numpy writes a few hundred)");
    std::string header(header_length, '\0');
    in.seekg(static_cast<std::streamoff>(header_start));
    read_exactly(header.data(), header_length);

    const std::string descr = header_value(header, "descr", path);
    DType dtype;
    if (descr == "'<f4'") dtype = DType::f32;
    else if (descr == "'<f8'") dtype = DType::f64;
    else if (descr == "'<i4'") dtype = DType::i32;
    else if (descr == "'|u1'" || descr == "'<u1'") dtype = DType::u8;
    else bad(path, "dtype " + descr + " is not one of <f4, <f8, <i4, |u1");
    if (header_value(header, "fortran_order", path) != "False") bad(path, "expected fortran_order False (C order)");

    const std::string shape_text = header_value(header, "shape", path);
    Shape shape;
    size_t at = 1;
    while (at < shape_text.size()) {
        while (at < shape_text.size() && (shape_text[at] == ' ' || shape_text[at] == ',')) ++at;
        if (at >= shape_text.size() || shape_text[at] == ')') break;
        size_t end = at;
        int64_t value = 0;
        while (end < shape_text.size() && shape_text[end] >= '0' && shape_text[end] <= '9') {
            value = value * 10 + (shape_text[end] - '0');
            if (value > (int64_t{1} << 40)) bad(path, "dimension too large in shape " + shape_text);
            ++end;
        }
        if (end == at) bad(path, "bad shape " + shape_text);
        shape.push_back(value);
        at = end;
    }
    const size_t data_start = header_start + header_length;
    const size_t want = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
    if (file_bytes - data_start != want)
        bad(path, "shape " + shape_text + " needs " + std::to_string(want) + " data bytes, the file has " +
                      std::to_string(file_bytes - data_start));
    Tensor out = Tensor::empty(shape, dtype);
    if (want > 0) read_exactly(static_cast<char*>(out.raw()), want);
    return out;
}

}  // namespace skipper::data
