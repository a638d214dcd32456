#include "trainer/data/dataset_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/serialize.h"

namespace skipper::data {

namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'S', 'K', 'P', 'C', 'A', 'C', 'H', 'E'};
constexpr size_t kHeaderBytes = 64;
constexpr size_t kNameBytes = 24;
constexpr size_t kEntryBytes = kNameBytes + 3 * 8;
constexpr size_t kAlign = 64;
constexpr uint32_t kMaxSections = 64;

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

struct Section {
    std::string name;
    const void* data;
    size_t bytes;
    std::string spill_path = {};  // or its bytes are in this file
};

// Applies `use` to a spill file's bytes in chunks of bounded size.
void for_each_chunk(const std::string& path, uint64_t bytes, const std::function<void(const uint8_t*, size_t)>& use) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw DataError(path, 0, "", std::string("cannot open the spill file: ") + std::strerror(errno));
    std::vector<uint8_t> buffer(size_t{16} << 20);
    uint64_t done = 0;
    while (done < bytes) {
        const ssize_t n = ::pread(fd, buffer.data(), static_cast<size_t>(std::min<uint64_t>(buffer.size(), bytes - done)),
                                  static_cast<off_t>(done));
        if (n <= 0) {
            ::close(fd);
            throw DataError(path, 0, "", "the spill file is shorter than its " + std::to_string(bytes) + " bytes");
        }
        use(buffer.data(), static_cast<size_t>(n));
        done += static_cast<uint64_t>(n);
    }
    ::close(fd);
}

void put_u32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void put_u64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

// A file written beside the target, then renamed over it.
class AtomicFile {
public:
    explicit AtomicFile(const std::string& path) : path_(path), temp_(path + ".tmp." + std::to_string(::getpid())) {
        fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) throw DataError(path, 0, "", std::string("cannot create the file: ") + std::strerror(errno));
    }
    ~AtomicFile() {
        if (fd_ >= 0) {
            ::close(fd_);
            ::unlink(temp_.c_str());
        }
    }
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    void write_at(uint64_t offset, const void* data, size_t bytes) {
        const auto* p = static_cast<const char*>(data);
        while (bytes > 0) {
            const ssize_t n = ::pwrite(fd_, p, std::min<size_t>(bytes, 1 << 30), static_cast<off_t>(offset));
            if (n <= 0) throw DataError(path_, 0, "", std::string("write failed: ") + std::strerror(errno));
            p += n;
            offset += static_cast<uint64_t>(n);
            bytes -= static_cast<size_t>(n);
        }
    }
    void commit() {
        if (::fsync(fd_) != 0 || ::close(fd_) != 0) throw DataError(path_, 0, "", std::string("write failed: ") + std::strerror(errno));
        fd_ = -1;
        if (::rename(temp_.c_str(), path_.c_str()) != 0) {
            ::unlink(temp_.c_str());
            throw DataError(path_, 0, "", std::string("cannot rename the finished file into place: ") + std::strerror(errno));
        }
    }

private:
    std::string path_, temp_;
    int fd_ = -1;
};

// The read-only mapping every loaded tensor views; unmapped with the last of them.
struct Mapping {
    void* data = nullptr;
    size_t bytes = 0;
    ~Mapping() {
        if (data != nullptr) ::munmap(data, bytes);
    }
};

json bins_json(const std::vector<gbdt::FeatureBins>& bins) {
    json out = json::array();
    for (const auto& b : bins)
        out.push_back({{"categorical", b.categorical},
                       {"bounds", b.upper_bounds.size()},
                       {"bin_category", b.bin_category},
                       {"category_bin", b.category_bin}});
    return out;
}

const char* kParts[2] = {"train", "test"};

}  // namespace

void release_mapped_pages(const void* data, size_t bytes) {
    // madvise wants a page-aligned start; the span's partial pages at either
    // end are dropped too (they are read back on the next touch).
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(data) / page * page;
    const auto end = reinterpret_cast<uintptr_t>(data) + bytes;
    if (bytes > 0) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void save_dataset_cache(const std::string& path, const DatasetCache& cache) {
    const auto& d = cache.data;
    const gbdt::BinnedDataset* parts[2] = {&d.train, &d.test};
    json sources = json::array();
    for (const auto& s : d.sources) sources.push_back({{"path", s.path}, {"bytes", s.bytes}, {"mtime_ns", s.mtime_ns}});
    const json meta = {{"task", cache.task},
                       {"feature_names", d.train.feature_names},
                       {"categorical", d.train.categorical},
                       {"category_names", d.train.category_names},
                       {"bins", bins_json(d.train.feature_bins)},
                       {"sources", sources},
                       {"log_rows", d.log_rows},
                       {"sessions", d.sessions},
                       {"disk_bytes", d.disk_bytes},
                       {"test_fraction", cache.test_fraction},
                       {"split_seed", cache.split_seed},
                       {"sample_sessions", cache.sample_sessions},
                       {"rows", {d.train.rows(), d.test.rows()}},
                       {"extra", json::parse(cache.extra_meta)}};
    const std::string meta_text = meta.dump();
    std::vector<double> bounds;
    for (const auto& b : d.train.feature_bins) bounds.insert(bounds.end(), b.upper_bounds.begin(), b.upper_bounds.end());

    std::vector<Section> sections = {{"meta", meta_text.data(), meta_text.size()},
                                     {"bin_bounds", bounds.data(), bounds.size() * sizeof(double)}};
    for (int p = 0; p < 2; ++p) {
        const gbdt::BinnedDataset& part = *parts[p];
        const std::string prefix = std::string(kParts[p]) + ".";
        const auto rows = static_cast<size_t>(part.rows());
        sections.push_back({prefix + "bins", part.bins.raw(), part.bins.nbytes()});
        sections.push_back({prefix + "labels", part.labels.raw(), part.labels.nbytes()});
        sections.push_back({prefix + "session_index", part.session_index.data(), rows * sizeof(int32_t)});
        sections.push_back({prefix + "position", part.position.data(), rows * sizeof(int32_t)});
        sections.push_back({prefix + "row_keys", part.row_keys.data(), part.row_keys.size() * sizeof(uint64_t)});
    }
    for (const auto& e : cache.extra) sections.push_back({e.name, nullptr, e.bytes, e.spill_path});
    std::string table;
    size_t offset = align_up(kHeaderBytes + sections.size() * kEntryBytes);
    std::vector<size_t> offsets;
    for (const auto& s : sections) {
        std::array<char, kNameBytes> name{};
        std::memcpy(name.data(), s.name.data(), std::min(s.name.size(), kNameBytes - 1));
        table.append(name.data(), kNameBytes);
        put_u64(table, offset);
        put_u64(table, s.bytes);
        StreamChecksum sum;
        if (s.spill_path.empty()) sum.update(static_cast<const uint8_t*>(s.data), s.bytes);
        else for_each_chunk(s.spill_path, s.bytes, [&](const uint8_t* p, size_t n) { sum.update(p, n); });
        put_u64(table, sum.digest());
        offsets.push_back(offset);
        offset = align_up(offset + s.bytes);
    }
    const uint64_t file_size = offset;
    std::string header(kMagic, 8);
    put_u32(header, kDatasetCacheVersion);
    put_u32(header, static_cast<uint32_t>(sections.size()));
    put_u64(header, file_size);
    put_u64(header, checksum64(reinterpret_cast<const uint8_t*>(table.data()), table.size()));
    header.resize(kHeaderBytes, '\0');

    AtomicFile file(path);
    file.write_at(0, header.data(), header.size());
    file.write_at(kHeaderBytes, table.data(), table.size());
    for (size_t i = 0; i < sections.size(); ++i) {
        if (sections[i].spill_path.empty()) {
            file.write_at(offsets[i], sections[i].data, sections[i].bytes);
            continue;
        }
        uint64_t at = offsets[i];
        for_each_chunk(sections[i].spill_path, sections[i].bytes, [&](const uint8_t* p, size_t n) {
            file.write_at(at, p, n);
            at += n;
        });
    }
    const char zero = 0;
    file.write_at(file_size - 1, &zero, 1);  // the padding after the last section
    file.commit();
}

DatasetCache load_dataset_cache(const std::string& path, bool check_sources) {
    const auto fail = [&](const std::string& what) -> DataError {
        return DataError(path, 0, "", "not a usable dataset cache: " + what + " (write it again with skipper prepare)");
    };
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw DataError(path, 0, "", std::string("cannot open the dataset cache: ") + std::strerror(errno));
    struct stat info {};
    const bool stat_ok = ::fstat(fd, &info) == 0;
    auto mapping = std::make_shared<Mapping>();
    if (stat_ok && info.st_size > 0) {
        void* p = ::mmap(nullptr, static_cast<size_t>(info.st_size), PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            mapping->data = p;
            mapping->bytes = static_cast<size_t>(info.st_size);
        }
    }
    ::close(fd);
    if (!stat_ok) throw DataError(path, 0, "", "cannot read the dataset cache");
    const size_t size = mapping->bytes;
    const auto* bytes = static_cast<const uint8_t*>(mapping->data);
    if (size < kHeaderBytes) throw fail("it is " + std::to_string(size) + " bytes, shorter than its header");
    if (std::memcmp(bytes, kMagic, 8) != 0) throw fail("it does not start with the cache's magic bytes");
    uint32_t version = 0, count = 0;
    uint64_t file_size = 0, table_sum = 0;
    std::memcpy(&version, bytes + 8, 4);
    std::memcpy(&count, bytes + 12, 4);
    std::memcpy(&file_size, bytes + 16, 8);
    std::memcpy(&table_sum, bytes + 24, 8);
    if (version != kDatasetCacheVersion)
        throw fail("format version " + std::to_string(version) + ", this build reads version " +
                   std::to_string(kDatasetCacheVersion) + "; write it again with skipper prepare");
    if (file_size != size)
        throw fail("it is " + std::to_string(size) + " bytes but its header says " + std::to_string(file_size) + " (truncated?)");
    if (count == 0 || count > kMaxSections) throw fail("its section count " + std::to_string(count) + " is out of range");
    if (kHeaderBytes + size_t{count} * kEntryBytes > size) throw fail("its section table runs past the end");
    const uint8_t* table = bytes + kHeaderBytes;
    if (checksum64(table, count * kEntryBytes) != table_sum) throw fail("its section table fails its checksum");
    std::map<std::string, std::pair<const uint8_t*, size_t>> sections;
    for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* e = table + i * kEntryBytes;
        const std::string name(reinterpret_cast<const char*>(e), strnlen(reinterpret_cast<const char*>(e), kNameBytes));
        uint64_t offset = 0, length = 0, sum = 0;
        std::memcpy(&offset, e + kNameBytes, 8);
        std::memcpy(&length, e + kNameBytes + 8, 8);
        std::memcpy(&sum, e + kNameBytes + 16, 8);
        if (offset % kAlign != 0 || offset > size || length > size - offset)
            throw fail("section '" + name + "' lies outside the file");
        // Checked in chunks whose pages are dropped once read, so that checking
        // a large cache does not hold it all in memory; whoever uses a
        // section touches it again.
        constexpr size_t kChunk = size_t{64} << 20;
        StreamChecksum running;
        for (size_t at = 0; at < length; at += kChunk) {
            const size_t n = std::min(kChunk, static_cast<size_t>(length) - at);
            running.update(bytes + offset + at, n);
            release_mapped_pages(bytes + offset + at, n);
        }
        if (running.digest() != sum) throw fail("section '" + name + "' fails its checksum (corrupt)");
        sections[name] = {bytes + offset, length};
    }
    const auto section = [&](const std::string& name, size_t expected) {
        const auto it = sections.find(name);
        if (it == sections.end()) throw fail("section '" + name + "' is missing");
        if (expected != std::numeric_limits<size_t>::max() && it->second.second != expected)
            throw fail("section '" + name + "' holds " + std::to_string(it->second.second) + " bytes, expected " +
                       std::to_string(expected));
        return it->second;
    };

    DatasetCache cache;
    json meta;
    std::vector<gbdt::FeatureBins> feature_bins;
    std::vector<std::string> names;
    std::vector<bool> categorical;
    std::vector<std::vector<std::string>> category_names;
    int64_t rows[2] = {0, 0};
    try {
        const auto [text, length] = section("meta", std::numeric_limits<size_t>::max());
        meta = json::parse(reinterpret_cast<const char*>(text), reinterpret_cast<const char*>(text) + length);
        cache.task = meta.at("task").get<std::string>();
        names = meta.at("feature_names").get<std::vector<std::string>>();
        categorical = meta.at("categorical").get<std::vector<bool>>();
        category_names = meta.at("category_names").get<std::vector<std::vector<std::string>>>();
        cache.test_fraction = meta.at("test_fraction").get<double>();
        cache.split_seed = meta.at("split_seed").get<uint64_t>();
        cache.sample_sessions = meta.at("sample_sessions").get<double>();
        cache.data.log_rows = meta.at("log_rows").get<int64_t>();
        cache.data.sessions = meta.at("sessions").get<int64_t>();
        cache.data.disk_bytes = meta.at("disk_bytes").get<int64_t>();
        for (const auto& s : meta.at("sources"))
            cache.data.sources.push_back({s.at("path").get<std::string>(), s.at("bytes").get<int64_t>(), s.at("mtime_ns").get<int64_t>()});
        rows[0] = meta.at("rows").at(0).get<int64_t>();
        rows[1] = meta.at("rows").at(1).get<int64_t>();
        if (meta.contains("extra")) cache.extra_meta = meta.at("extra").dump();
        size_t bound_count = 0;
        for (const auto& b : meta.at("bins")) {
            gbdt::FeatureBins bins;
            bins.categorical = b.at("categorical").get<bool>();
            // Bounded before it sizes anything: a feature has at most 256 bins.
            const auto bound_count_here = b.at("bounds").get<int64_t>();
            if (bound_count_here < 0 || bound_count_here > 255)
                throw fail("a feature declares " + std::to_string(bound_count_here) + " bin edges (at most 255)");
            bins.upper_bounds.resize(static_cast<size_t>(bound_count_here));
            bins.bin_category = b.at("bin_category").get<std::vector<int32_t>>();
            bins.category_bin = b.at("category_bin").get<std::vector<int32_t>>();
            bound_count += bins.upper_bounds.size();
            if (bound_count > size / sizeof(double)) throw fail("the bin edges are larger than the file");
            feature_bins.push_back(std::move(bins));
        }
        const auto [bounds, bounds_bytes] = section("bin_bounds", bound_count * sizeof(double));
        size_t next = 0;
        for (auto& bins : feature_bins)
            for (auto& bound : bins.upper_bounds) std::memcpy(&bound, bounds + sizeof(double) * next++, sizeof(double));
        (void)bounds_bytes;
    } catch (const json::exception& e) {
        throw fail(std::string("its metadata is malformed: ") + e.what());
    }
    const size_t width = names.size();
    if (width == 0 || categorical.size() != width || category_names.size() != width || feature_bins.size() != width)
        throw fail("its feature schema is inconsistent");
    for (size_t f = 0; f < width; ++f) {
        const auto& b = feature_bins[f];
        if (b.categorical != categorical[f] || b.num_bins() > 256 || b.value_bins() < 1)
            throw fail("the bins of feature '" + names[f] + "' are out of range");
        // Numeric edges never decrease, are infinite or within float range
        // (they sit between f32 values) and end at +infinity, as the fitter
        // makes them.
        const auto& ub = b.upper_bounds;
        for (size_t i = 0; i < ub.size(); ++i) {
            const bool in_range = std::isinf(ub[i]) || std::abs(ub[i]) <= std::numeric_limits<float>::max();
            const bool ordered = i == 0 || ub[i] >= ub[i - 1];
            const bool last_ok = i + 1 < ub.size() || ub[i] == std::numeric_limits<double>::infinity();
            if (!in_range || !ordered || !last_ok)
                throw fail("the bin edges of feature '" + names[f] + "' are out of order or range");
        }
        for (int32_t c : b.bin_category)
            if (c < 0 || static_cast<size_t>(c) >= b.category_bin.size()) throw fail("the bins of feature '" + names[f] + "' are out of range");
        for (int32_t bin : b.category_bin)
            if (bin < -1 || bin >= b.value_bins()) throw fail("the bins of feature '" + names[f] + "' are out of range");
    }
    for (int p = 0; p < 2; ++p)
        if (rows[p] < 0 || static_cast<uint64_t>(rows[p]) > size / (width + 20)) throw fail("its row count is out of range");

    if (check_sources)
        for (const auto& recorded : cache.data.sources) {
            struct stat now {};
            if (::stat(recorded.path.c_str(), &now) != 0)
                throw DataError(path, 0, "", "the dataset cache is stale: its source " + recorded.path +
                                                 " is gone (prepare it again, or name the data instead)");
            const int64_t mtime = static_cast<int64_t>(now.st_mtim.tv_sec) * 1000000000 + now.st_mtim.tv_nsec;
            if (now.st_size != recorded.bytes || mtime != recorded.mtime_ns)
                throw DataError(path, 0, "", "the dataset cache is stale: its source " + recorded.path + " changed since it was prepared (" +
                                                 (now.st_size != recorded.bytes ? "size " + std::to_string(recorded.bytes) + " -> " + std::to_string(now.st_size)
                                                                                : std::string("modified")) +
                                                 "); prepare it again");
        }

    const std::set<std::string> known = {"meta",        "bin_bounds",         "train.bins",      "train.labels",
                                          "train.session_index", "train.position", "train.row_keys", "test.bins",
                                          "test.labels", "test.session_index", "test.position",  "test.row_keys"};
    for (const auto& [name, span] : sections)
        if (known.count(name) == 0) cache.extra.push_back({name, "", span.first, span.second});
    cache.mapping = mapping;

    gbdt::BinnedDataset* parts[2] = {&cache.data.train, &cache.data.test};
    for (int p = 0; p < 2; ++p) {
        gbdt::BinnedDataset& part = *parts[p];
        const std::string prefix = std::string(kParts[p]) + ".";
        const auto n = static_cast<size_t>(rows[p]);
        part.feature_names = names;
        part.categorical = categorical;
        part.category_names = category_names;
        part.feature_bins = feature_bins;
        const auto [bins, b_bytes] = section(prefix + "bins", n * width);
        const auto [labels, l_bytes] = section(prefix + "labels", n * sizeof(float));
        part.bins = Tensor::view_host(const_cast<uint8_t*>(bins), {rows[p], static_cast<int64_t>(width)}, DType::u8, mapping);
        part.labels = Tensor::view_host(const_cast<uint8_t*>(labels), {rows[p]}, DType::f32, mapping);
        const auto [session, s_bytes] = section(prefix + "session_index", n * sizeof(int32_t));
        const auto [position, p_bytes] = section(prefix + "position", n * sizeof(int32_t));
        const auto [keys, k_bytes] = section(prefix + "row_keys", n * sizeof(uint64_t));
        part.session_index.resize(n);
        part.position.resize(n);
        part.row_keys.resize(n);
        // An empty part's vectors have no storage: memcpy to null is undefined
        // even for 0 bytes (found by dataset_cache_fuzz on a cache with no held-out rows).
        if (n > 0) {
            std::memcpy(part.session_index.data(), session, s_bytes);
            std::memcpy(part.position.data(), position, p_bytes);
            std::memcpy(part.row_keys.data(), keys, k_bytes);
        }
        (void)b_bytes;
        (void)l_bytes;
        // The rows are data from the file too: bins index histograms and
        // labels feed the loss (check_binned_dataset, as training checks them),
        // and sessions are numbered from 0 in row order with positions from 1.
        if (n > 0) {
            try {
                gbdt::check_binned_dataset(part, kParts[p]);
            } catch (const Error& e) {
                throw fail(e.what());
            }
            release_mapped_pages(bins, b_bytes);  // checked; training reads them again
        }
        for (size_t i = 0; i < n; ++i) {
            const int32_t number = part.session_index[i], previous = i == 0 ? -1 : part.session_index[i - 1];
            if (i == 0 ? number != 0 : (number != previous && number != previous + 1))
                throw fail(prefix + "session_index at row " + std::to_string(i) + " is " +
                           std::to_string(part.session_index[i]) + " after " + std::to_string(previous));
            if (part.position[i] < 1)
                throw fail(prefix + "position at row " + std::to_string(i) + " is " + std::to_string(part.position[i]));
        }
    }
    return cache;
}

}  // namespace skipper::data
