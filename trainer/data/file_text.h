// A data file's bytes as one read-only text: a plain file is mapped into
// memory, a .gz file (gzip, several members allowed) is inflated into memory
// with zlib. Both are released on destruction. The CSV reader works on this,
// so every reader takes .csv and .csv.gz alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skipper::data {

class ReadOnlyFile;

// A plain file mapped read-only, unmapped on destruction. Its pages are the
// page cache's: mapped pages that were read count in the resident size until
// they are dropped.
class MappedFile {
public:
    // Maps the whole file (nothing when it is empty) with madvise's `advice`;
    // `path` names it in errors.
    MappedFile(const ReadOnlyFile& file, const std::string& path, int advice);
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const char* data() const { return static_cast<const char*>(mapping_); }
    size_t size() const { return size_; }
    // Unmaps the pages that hold [begin, end) from this process (the whole
    // pages around it): the resident size falls; the bytes stay readable,
    // read again from the page cache if touched.
    void drop(size_t begin, size_t end) const;

private:
    void* mapping_ = nullptr;
    size_t size_ = 0;
};

class FileText {
public:
    explicit FileText(const std::string& path);
    ~FileText();
    FileText(const FileText&) = delete;
    FileText& operator=(const FileText&) = delete;

    std::string_view text() const { return {data_, size_}; }
    // Bytes read from disk (the compressed size for .gz), for throughput figures.
    int64_t disk_bytes() const { return disk_bytes_; }

private:
    const char* data_ = nullptr;
    size_t size_ = 0;
    std::optional<MappedFile> mapped_;  // plain file
    std::vector<char> inflated_;  // decompressed .gz file
    int64_t disk_bytes_ = 0;
};

bool is_gzip_path(const std::string& path);

// A file opened for reading and closed on destruction, with its size on disk.
// Failing to open or stat it is a DataError naming it.
class ReadOnlyFile {
public:
    explicit ReadOnlyFile(const std::string& path);
    ~ReadOnlyFile();
    ReadOnlyFile(const ReadOnlyFile&) = delete;
    ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

    int fd() const { return fd_; }
    int64_t size() const { return size_; }

private:
    int fd_ = -1;
    int64_t size_ = 0;
};

}  // namespace skipper::data
