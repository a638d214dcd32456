#include "engine/error.h"

namespace skipper {

namespace {
std::string data_message(const std::string& file, int64_t line, const std::string& column, const std::string& what) {
    std::string message = file;
    if (line > 0) message += ":" + std::to_string(line);
    if (!column.empty()) message += ": column '" + column + "'";
    return message + ": " + what;
}
}  // namespace

DataError::DataError(const std::string& file, int64_t line, const std::string& column, const std::string& what)
    : Error(data_message(file, line, column, what)), file_(file), line_(line), column_(column) {}

ParamError::ParamError(const std::string& name, const std::string& what)
    : Error("parameter '" + name + "': " + what), name_(name) {}

FormatError::FormatError(const std::string& path, const std::string& what) : Error(path + ": " + what) {}

}  // namespace skipper
