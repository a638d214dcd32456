// Exceptions carry their context (file/line/column, parameter name, call site)
// and are caught at the edge: the CLI and the server.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace skipper {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Malformed input data, located by file, 1-based line and column (column name).
class DataError : public Error {
public:
    DataError(const std::string& file, int64_t line, const std::string& column, const std::string& what);
    const std::string& file() const { return file_; }
    int64_t line() const { return line_; }
    const std::string& column() const { return column_; }

private:
    std::string file_;
    int64_t line_;
    std::string column_;
};

// A bad parameter: unknown name or value out of range.
class ParamError : public Error {
public:
    ParamError(const std::string& name, const std::string& what);
    const std::string& name() const { return name_; }

private:
    std::string name_;
};

// A model file that is truncated, corrupt, foreign or of an unknown version.
class FormatError : public Error {
public:
    FormatError(const std::string& path, const std::string& what);
};

// A CUDA or cuBLAS call that failed, with its call site.
class CudaError : public Error {
public:
    using Error::Error;
};

}  // namespace skipper
