// The versioned binary container every model file uses.
//
// Layout (little-endian):
//   magic "SKIPPER\x1a" (8 bytes) | u32 format version | u64 total file size
//   | u32 metadata count | { u32 key length, key, u32 value length, value }*
//   | u32 tensor count   | { u32 name length, name, u8 dtype, u32 rank, i64 dims[rank],
//                            u64 byte count, bytes }*
//   | u64 FNV-1a checksum of every byte before it.
// Loading checks size, magic, version and checksum before it parses anything,
// and bounds-checks every read while parsing.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace skipper {

constexpr uint32_t kModelFormatVersion = 1;

struct ModelFile {
    std::map<std::string, std::string> metadata;
    std::map<std::string, Tensor> tensors;  // host tensors

    const std::string& meta(const std::string& key) const;  // throws Error naming a missing key
    const Tensor& tensor(const std::string& name) const;    // likewise
};

std::vector<uint8_t> serialize_model(const ModelFile& model);
// `origin` names the source in error messages (usually the path).
ModelFile deserialize_model(const std::vector<uint8_t>& bytes, const std::string& origin);

// Writes to a temporary file beside `path`, flushes it to disk, then renames it
// over `path`: a crash leaves either the old file or the new one, never half.
void save_model_file(const std::string& path, const ModelFile& model);
ModelFile load_model_file(const std::string& path);

// Writes any bytes atomically in the same way (used by other writers too).
void write_file_atomically(const std::string& path, const std::string& bytes);

// FNV-1a over `size` bytes; pass the previous result as `hash` to continue
// over more bytes as if they followed.
constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;
uint64_t fnv1a64(const uint8_t* data, size_t size, uint64_t hash = kFnv1aOffset);

// A 64-bit checksum for large byte streams (the dataset cache's sections).
// FNV-1a waits on one multiply per byte, about 1 GB/s; this keeps four
// independent multiply-rotate lanes over 32-byte stripes, so it runs near
// memory speed. Fed in pieces of any size, it gives the same digest as the
// bytes fed at once. Files store its digests: changing it changes their format.
class StreamChecksum {
public:
    void update(const uint8_t* data, size_t size);
    uint64_t digest() const;

private:
    static constexpr size_t kStripeBytes = 32;
    void absorb_stripe(const uint8_t* stripe);

    uint64_t lanes_[4] = {0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull, 0x082efa98ec4e6c89ull};
    uint8_t pending_[kStripeBytes] = {};
    size_t pending_bytes_ = 0;
    uint64_t total_bytes_ = 0;
};

uint64_t checksum64(const uint8_t* data, size_t size);

}  // namespace skipper
