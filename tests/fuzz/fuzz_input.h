// What the fuzz targets share: an in-memory file for the readers that take a
// path, and the sealing of a model file (an attacker recomputes the size and
// checksum, so the fuzzer must reach the loaders behind them).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/serialize.h"

namespace skipper::fuzz {

// A memfd whose contents are replaced on every input; its /proc path opens
// like any file, without touching the disk.
class MemoryFile {
public:
    MemoryFile() : fd_(::memfd_create("skipper_fuzz", MFD_CLOEXEC)) {
        if (fd_ < 0) throw std::runtime_error("memfd_create failed");
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    ~MemoryFile() { ::close(fd_); }
    MemoryFile(const MemoryFile&) = delete;
    MemoryFile& operator=(const MemoryFile&) = delete;

    const std::string& replace(const uint8_t* data, size_t size) {
        if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))
            throw std::runtime_error("cannot write the memfd");
        return path_;
    }

private:
    int fd_;
    std::string path_;
};

// The input with the container's total size and checksum set to match it.
inline std::vector<uint8_t> sealed_model(const uint8_t* data, size_t size) {
    std::vector<uint8_t> bytes(data, data + size);
    constexpr size_t kSizeAt = 12, kHeader = 20, kChecksum = 8;
    if (bytes.size() < kHeader + kChecksum) return bytes;
    const uint64_t total = bytes.size();
    std::memcpy(bytes.data() + kSizeAt, &total, sizeof total);
    const uint64_t checksum = fnv1a64(bytes.data(), bytes.size() - kChecksum);
    std::memcpy(bytes.data() + bytes.size() - kChecksum, &checksum, sizeof checksum);
    return bytes;
}

}  // namespace skipper::fuzz
