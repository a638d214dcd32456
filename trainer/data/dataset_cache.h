// The prepared-dataset cache (`skipper prepare ... out=FILE`, then
// `dataset=FILE` in train and eval): the session task's binned GBDT rows,
// written once, mapped on load (LightGBM's save_binary, with staleness checks).
//
// Layout (little-endian; every section starts on a 64-byte boundary so that
// it can be used in place from the mapping):
//   header, 64 bytes: magic "SKPCACHE" | u32 version | u32 section count
//                     | u64 file size | u64 checksum64 of the section table | zero padding
//   section table: per section { char name[24] (NUL-padded) | u64 offset | u64 bytes | u64 checksum64 of the bytes }
//   sections: "meta" (JSON: schema, bin edges' shapes, sources with sizes and
//   mtimes, split), "bin_bounds" (f64, every numeric feature's upper bounds),
//   and per part (train, test): bins u8 [rows, F], labels f32, session_index
//   i32, position i32, row_keys u64.
// Loading bounds every offset, count and size against the file before using
// it, verifies every section's checksum, and refuses a cache whose sources
// changed (size or mtime), a truncated one and a corrupt one with a DataError
// naming the file and what is wrong. Written to a temporary file and renamed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/data/ingest.h"

namespace skipper::data {

// 2: checksum64 (engine/serialize.h) replaced FNV-1a, whose check took most
// of a cached training run's start.
constexpr uint32_t kDatasetCacheVersion = 2;

// A section beyond the GBDT's rows (the LSTM's sequences, sequence_cache.h).
// Saved from a spill file, so that it is never held in memory whole; loaded
// as a span of the mapping.
struct CacheSection {
    std::string name;
    std::string spill_path;         // save: the file holding its bytes
    const uint8_t* data = nullptr;  // load: its bytes in the mapping
    uint64_t bytes = 0;
};

struct DatasetCache {
    std::string task = "session";
    SessionRowIngest data;  // train and test; bins and labels map the file
    double test_fraction = 0.2;
    uint64_t split_seed = 42;
    double sample_sessions = 1.0;
    std::vector<CacheSection> extra;  // checksummed like the others
    std::string extra_meta = "null";  // JSON describing them, kept in "meta"
    std::shared_ptr<const void> mapping;  // load: keeps the extra sections mapped
};

// Drops the pages of a span of a loaded cache from this process's resident
// set (madvise MADV_DONTNEED on the read-only mapping): touching them again
// reads them back from the page cache. Keeps a pass over a large cache from
// holding all of it in RSS.
void release_mapped_pages(const void* data, size_t bytes);

void save_dataset_cache(const std::string& path, const DatasetCache& cache);

// check_sources=false skips the staleness check (for tools that inspect a
// cache whose sources are gone).
DatasetCache load_dataset_cache(const std::string& path, bool check_sources = true);

}  // namespace skipper::data
