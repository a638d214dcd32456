#include "engine/serialize.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "engine/error.h"
#include "kernels/cpu/random.h"

namespace skipper {

namespace {

constexpr char kMagic[8] = {'S', 'K', 'I', 'P', 'P', 'E', 'R', '\x1a'};
// magic + version + total size
constexpr size_t kHeaderBytes = 8 + 4 + 8;
constexpr size_t kChecksumBytes = 8;
// Guards against absurd lengths in a damaged file before any allocation.
constexpr uint32_t kMaxRank = 8;

class ByteWriter {
public:
    void bytes(const void* data, size_t size) {
        const auto* p = static_cast<const uint8_t*>(data);
        out_.insert(out_.end(), p, p + size);
    }
    template <class T> void value(T v) { bytes(&v, sizeof v); }
    void string(const std::string& s) {
        value(static_cast<uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }
    std::vector<uint8_t>& buffer() { return out_; }

private:
    std::vector<uint8_t> out_;
};

class ByteReader {
public:
    ByteReader(const uint8_t* data, size_t size, const std::string& origin) : data_(data), size_(size), origin_(origin) {}
    void need(size_t count, const char* what) const {
        if (count > size_ - pos_)
            throw FormatError(origin_, std::string("truncated or corrupt model file: ") + what + " runs past the end");
    }
    template <class T> T value(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }
    std::string string(const char* what) {
        const uint32_t length = value<uint32_t>(what);
        need(length, what);
        std::string s(reinterpret_cast<const char*>(data_ + pos_), length);
        pos_ += length;
        return s;
    }
    void bytes(void* dst, size_t count, const char* what) {
        need(count, what);
        if (count) std::memcpy(dst, data_ + pos_, count);
        pos_ += count;
    }
    bool at_end() const { return pos_ == size_; }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    const std::string& origin_;
};

}  // namespace

uint64_t fnv1a64(const uint8_t* data, size_t size, uint64_t hash) {
    for (size_t i = 0; i < size; ++i) {
        hash ^= data[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

namespace {

constexpr uint64_t kLaneMultiplier = 0x9e3779b97f4a7c15ull;  // odd: 2^64 / golden ratio
constexpr uint64_t kWordMultiplier = 0xd6e8feb86659fd93ull;  // odd, bits well spread

uint64_t load_little_endian_u64(const uint8_t* p) {
    uint64_t word = 0;
    std::memcpy(&word, p, 8);
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
    return word;
}

}  // namespace

void StreamChecksum::absorb_stripe(const uint8_t* stripe) {
    for (int lane = 0; lane < 4; ++lane) {
        // The rotate carries the multiply's high bits back down, so that a
        // change in any bit of a word reaches every bit of its lane.
        const uint64_t mixed = lanes_[lane] + load_little_endian_u64(stripe + 8 * lane) * kWordMultiplier;
        lanes_[lane] = std::rotl(mixed, 29) * kLaneMultiplier;
    }
}

void StreamChecksum::update(const uint8_t* data, size_t size) {
    if (size == 0) return;  // data may be null
    total_bytes_ += size;
    if (pending_bytes_ > 0) {
        const size_t take = std::min(size, kStripeBytes - pending_bytes_);
        std::memcpy(pending_ + pending_bytes_, data, take);
        pending_bytes_ += take;
        data += take;
        size -= take;
        if (pending_bytes_ < kStripeBytes) return;
        absorb_stripe(pending_);
        pending_bytes_ = 0;
    }
    for (; size >= kStripeBytes; data += kStripeBytes, size -= kStripeBytes) absorb_stripe(data);
    std::memcpy(pending_, data, size);
    pending_bytes_ = size;
}

uint64_t StreamChecksum::digest() const {
    uint64_t hash = total_bytes_;
    for (const uint64_t lane : lanes_) hash = splitmix64_finalise(hash ^ lane) * kLaneMultiplier;
    // The last partial stripe, zero-padded; its length is in total_bytes_.
    uint8_t tail[kStripeBytes] = {};
    std::memcpy(tail, pending_, pending_bytes_);
    for (size_t at = 0; at < kStripeBytes; at += 8) hash = splitmix64_finalise(hash ^ load_little_endian_u64(tail + at)) * kLaneMultiplier;
    return splitmix64_finalise(hash);
}

uint64_t checksum64(const uint8_t* data, size_t size) {
    StreamChecksum checksum;
    checksum.update(data, size);
    return checksum.digest();
}

const std::string& ModelFile::meta(const std::string& key) const {
    auto it = metadata.find(key);
    if (it == metadata.end()) throw Error("model file has no metadata key '" + key + "'");
    return it->second;
}

const Tensor& ModelFile::tensor(const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw Error("model file has no tensor '" + name + "'");
    return it->second;
}

std::vector<uint8_t> serialize_model(const ModelFile& model) {
    ByteWriter w;
    w.bytes(kMagic, sizeof kMagic);
    w.value<uint32_t>(kModelFormatVersion);
    w.value<uint64_t>(0);  // total size, patched below
    w.value<uint32_t>(static_cast<uint32_t>(model.metadata.size()));
    for (const auto& [key, value] : model.metadata) {
        w.string(key);
        w.string(value);
    }
    w.value<uint32_t>(static_cast<uint32_t>(model.tensors.size()));
    for (const auto& [name, tensor] : model.tensors) {
        const Tensor host = tensor.device() == Device::cpu ? tensor : tensor.to(Device::cpu);
        w.string(name);
        w.value<uint8_t>(static_cast<uint8_t>(host.dtype()));
        w.value<uint32_t>(static_cast<uint32_t>(host.dim()));
        for (int64_t d : host.shape()) w.value<int64_t>(d);
        w.value<uint64_t>(host.nbytes());
        w.bytes(host.raw(), host.nbytes());
    }
    std::vector<uint8_t>& out = w.buffer();
    const uint64_t total = out.size() + kChecksumBytes;
    std::memcpy(out.data() + 8 + 4, &total, sizeof total);
    const uint64_t checksum = fnv1a64(out.data(), out.size());
    w.value<uint64_t>(checksum);
    return std::move(out);
}

ModelFile deserialize_model(const std::vector<uint8_t>& bytes, const std::string& origin) {
    if (bytes.size() < kHeaderBytes + kChecksumBytes)
        throw FormatError(origin, "not a Skipper model file (only " + std::to_string(bytes.size()) + " bytes)");
    if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        throw FormatError(origin, "not a Skipper model file (wrong magic number)");
    uint32_t version = 0;
    uint64_t total = 0;
    std::memcpy(&version, bytes.data() + 8, sizeof version);
    std::memcpy(&total, bytes.data() + 12, sizeof total);
    if (version != kModelFormatVersion)
        throw FormatError(origin, "model format version " + std::to_string(version) + " is not supported (this build reads " +
                                      std::to_string(kModelFormatVersion) + ")");
    if (total != bytes.size())
        throw FormatError(origin, "truncated or corrupt model file: header says " + std::to_string(total) +
                                      " bytes, file has " + std::to_string(bytes.size()));
    uint64_t stored = 0;
    std::memcpy(&stored, bytes.data() + bytes.size() - kChecksumBytes, sizeof stored);
    if (stored != fnv1a64(bytes.data(), bytes.size() - kChecksumBytes))
        throw FormatError(origin, "corrupt model file: checksum mismatch");

    ByteReader r(bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes - kChecksumBytes, origin);
    ModelFile model;
    // Counts and lengths are bounded by the bytes left (ByteReader::need) before
    // anything is allocated for them; a name given twice would let one entry
    // hide another, so it is refused.
    const uint32_t meta_count = r.value<uint32_t>("metadata count");
    for (uint32_t i = 0; i < meta_count; ++i) {
        std::string key = r.string("metadata key");
        std::string value = r.string("metadata value");
        if (!model.metadata.emplace(key, std::move(value)).second)
            throw FormatError(origin, "corrupt model file: metadata key '" + key + "' appears twice");
    }
    const uint32_t tensor_count = r.value<uint32_t>("tensor count");
    for (uint32_t i = 0; i < tensor_count; ++i) {
        std::string name = r.string("tensor name");
        if (model.tensors.count(name) != 0)
            throw FormatError(origin, "corrupt model file: tensor '" + name + "' appears twice");
        const uint8_t dtype = r.value<uint8_t>("tensor dtype");
        if (dtype > static_cast<uint8_t>(DType::u8))
            throw FormatError(origin, "tensor '" + name + "' has unknown dtype " + std::to_string(dtype));
        const uint32_t rank = r.value<uint32_t>("tensor rank");
        if (rank > kMaxRank) throw FormatError(origin, "tensor '" + name + "' has rank " + std::to_string(rank));
        Shape shape(rank);
        // The element count is the product of the dimensions in order, checked
        // for overflow at each step, so Tensor's own product never wraps.
        int64_t elements = 1;
        for (auto& d : shape) {
            d = r.value<int64_t>("tensor shape");
            if (d < 0) throw FormatError(origin, "tensor '" + name + "' has a negative dimension");
            if (elements != 0 && d > std::numeric_limits<int64_t>::max() / elements)
                throw FormatError(origin, "tensor '" + name + "' has an impossibly large shape (dimension " +
                                              std::to_string(d) + " after " + std::to_string(elements) + " elements)");
            elements *= d;
        }
        const uint64_t nbytes = r.value<uint64_t>("tensor byte count");
        r.need(nbytes, "tensor data");
        const auto type = static_cast<DType>(dtype);
        if (static_cast<uint64_t>(elements) > nbytes / dtype_size(type) ||
            static_cast<uint64_t>(elements) * dtype_size(type) != nbytes)
            throw FormatError(origin, "tensor '" + name + "' of shape " + shape_string(shape) + " and dtype " +
                                          dtype_name(type) + " does not match its byte count " + std::to_string(nbytes));
        Tensor t = Tensor::empty(shape, type, Device::cpu);
        r.bytes(t.raw(), nbytes, "tensor data");
        model.tensors.emplace(std::move(name), std::move(t));
    }
    if (!r.at_end()) throw FormatError(origin, "corrupt model file: trailing bytes after the last tensor");
    return model;
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
    const std::string temp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw Error("cannot write " + temp + ": " + std::strerror(errno));
    size_t written = 0;
    while (written < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const std::string reason = std::strerror(errno);
            ::close(fd);
            ::unlink(temp.c_str());
            throw Error("cannot write " + temp + ": " + reason);
        }
        written += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const std::string reason = std::strerror(errno);
        ::unlink(temp.c_str());
        throw Error("cannot flush " + temp + ": " + reason);
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
        const std::string reason = std::strerror(errno);
        ::unlink(temp.c_str());
        throw Error("cannot rename " + temp + " to " + path + ": " + reason);
    }
}

void save_model_file(const std::string& path, const ModelFile& model) {
    const std::vector<uint8_t> bytes = serialize_model(model);
    write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

ModelFile load_model_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw FormatError(path, "cannot open model file");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return deserialize_model(bytes, path);
}

}  // namespace skipper
