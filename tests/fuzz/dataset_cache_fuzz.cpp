// The dataset cache loader on arbitrary bytes, sealed as an attacker would
// (file size, every section's checksum and the section table's checksum
// recomputed). A DataError is the only acceptable failure; a cache that loads
// gives back representative rows for every row without a fault.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/error.h"
#include "engine/serialize.h"
#include "tests/fuzz/fuzz_input.h"
#include "trainer/data/dataset_cache.h"
#include "trainer/data/ingest.h"

namespace {

// Layout of trainer/data/dataset_cache.h: 64-byte header, then 48-byte
// section entries {name[24], offset, bytes, checksum}.
std::vector<uint8_t> sealed_cache(const uint8_t* data, size_t size) {
    std::vector<uint8_t> bytes(data, data + size);
    constexpr size_t kHeader = 64, kEntry = 48;
    if (size < kHeader) return bytes;
    const uint64_t total = size;
    std::memcpy(bytes.data() + 16, &total, 8);
    uint32_t count = 0;
    std::memcpy(&count, bytes.data() + 12, 4);
    const size_t entries = std::min<size_t>({count, 64, (size - kHeader) / kEntry});
    for (size_t i = 0; i < entries; ++i) {
        uint8_t* e = bytes.data() + kHeader + i * kEntry;
        uint64_t offset = 0, length = 0;
        std::memcpy(&offset, e + 24, 8);
        std::memcpy(&length, e + 32, 8);
        if (offset > size || length > size - offset) continue;
        const uint64_t sum = skipper::checksum64(bytes.data() + offset, length);
        std::memcpy(e + 40, &sum, 8);
    }
    const uint64_t table = skipper::checksum64(bytes.data() + kHeader, entries * kEntry);
    std::memcpy(bytes.data() + 24, &table, 8);
    return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace skipper;
    static fuzz::MemoryFile file;
    const std::vector<uint8_t> bytes = sealed_cache(data, size);
    const std::string& path = file.replace(bytes.data(), bytes.size());
    try {
        const data::DatasetCache cache = data::load_dataset_cache(path, false);
        for (const gbdt::BinnedDataset* part : {&cache.data.train, &cache.data.test})
            if (part->rows() > 0) data::representative_rows(*part, 0, part->rows());
    } catch (const DataError&) {
    }
    return 0;
}
