#include "engine/params.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "engine/error.h"

namespace skipper {

namespace {
std::string trim(const std::string& s) {
    const size_t begin = s.find_first_not_of(" \t\r");
    if (begin == std::string::npos) return "";
    const size_t end = s.find_last_not_of(" \t\r");
    return s.substr(begin, end - begin + 1);
}
}  // namespace

KeyValues parse_key_values(const std::vector<std::string>& args) {
    KeyValues out;
    for (const auto& arg : args) {
        const size_t eq = arg.find('=');
        if (eq == std::string::npos || eq == 0)
            throw ParamError(arg, "expected key=value, got '" + arg + "'");
        out.emplace_back(trim(arg.substr(0, eq)), trim(arg.substr(eq + 1)));
    }
    return out;
}

KeyValues read_config_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw DataError(path, 0, "", "cannot open config file");
    KeyValues out;
    std::string line;
    int64_t number = 0;
    while (std::getline(in, line)) {
        ++number;
        const size_t hash = line.find('#');
        if (hash != std::string::npos) line.resize(hash);
        line = trim(line);
        if (line.empty()) continue;
        const size_t eq = line.find('=');
        if (eq == std::string::npos || eq == 0)
            throw DataError(path, number, "", "expected key=value, got '" + line + "'");
        out.emplace_back(trim(line.substr(0, eq)), trim(line.substr(eq + 1)));
    }
    return out;
}

namespace param_detail {

int64_t parse_int(const std::string& name, const std::string& text) {
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
        throw ParamError(name, "expected an integer, got '" + text + "'");
    return value;
}

double parse_double(const std::string& name, const std::string& text) {
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(value))
        throw ParamError(name, "expected a number, got '" + text + "'");
    return value;
}

bool parse_bool(const std::string& name, const std::string& text) {
    if (text == "true" || text == "1" || text == "True") return true;
    if (text == "false" || text == "0" || text == "False") return false;
    throw ParamError(name, "expected true or false, got '" + text + "'");
}

std::string format_double(double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.10g", value);
    return buffer;
}

void unknown(const std::string& name, const std::vector<std::string>& known) {
    std::string list;
    for (size_t i = 0; i < known.size(); ++i) list += (i ? ", " : "") + known[i];
    throw ParamError(name, "unknown parameter (known: " + list + ")");
}

void out_of_range(const std::string& name, const std::string& text, double min, double max) {
    throw ParamError(name, "value " + text + " is out of range [" + format_double(min) + ", " + format_double(max) + "]");
}

void not_a_choice(const std::string& name, const std::string& text, const std::vector<std::string>& choices) {
    std::string list;
    for (size_t i = 0; i < choices.size(); ++i) list += (i ? ", " : "") + choices[i];
    throw ParamError(name, "expected one of " + list + ", got '" + text + "'");
}

}  // namespace param_detail
}  // namespace skipper
