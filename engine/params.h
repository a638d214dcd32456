// Parameter tables. Each learner keeps one struct of parameters and, in the
// same file, one table giving every parameter's name, default (the struct's
// initialiser), valid range and one-line help. The table alone drives parsing
// of key=value pairs and config files, validation, --help, and the copy of the
// parameters stored in model files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace skipper {

template <class P> struct ParamSpec {
    const char* name;
    std::variant<int64_t P::*, double P::*, bool P::*, std::string P::*> field;
    double min = 0;  // numeric range, inclusive
    double max = 0;
    std::vector<std::string> choices;  // allowed strings; empty = any
    const char* help = "";
    std::vector<std::string> aliases;  // other accepted names (e.g. LightGBM's)
};

// key=value pairs in order, from arguments like "learning_rate=0.1".
using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Splits "key=value" arguments; a malformed one is a ParamError naming it.
KeyValues parse_key_values(const std::vector<std::string>& args);
// Reads a config file: one key=value per line; '#' starts a comment; blank lines
// are skipped. Errors name the file and line.
KeyValues read_config_file(const std::string& path);

namespace param_detail {
int64_t parse_int(const std::string& name, const std::string& text);
double parse_double(const std::string& name, const std::string& text);
bool parse_bool(const std::string& name, const std::string& text);
std::string format_double(double value);
[[noreturn]] void unknown(const std::string& name, const std::vector<std::string>& known);
[[noreturn]] void out_of_range(const std::string& name, const std::string& text, double min, double max);
[[noreturn]] void not_a_choice(const std::string& name, const std::string& text, const std::vector<std::string>& choices);
}  // namespace param_detail

template <class P> const ParamSpec<P>* find_param(const std::vector<ParamSpec<P>>& table, const std::string& key) {
    for (const auto& spec : table) {
        if (key == spec.name) return &spec;
        for (const auto& alias : spec.aliases)
            if (key == alias) return &spec;
    }
    return nullptr;
}

// Sets one parameter, validating its range; unknown names and bad values throw
// ParamError naming the parameter.
template <class P> void set_param(P& params, const std::vector<ParamSpec<P>>& table, const std::string& key,
                                  const std::string& value) {
    const ParamSpec<P>* spec = find_param(table, key);
    if (spec == nullptr) {
        std::vector<std::string> known;
        for (const auto& s : table) known.push_back(s.name);
        param_detail::unknown(key, known);
    }
    std::visit(
        [&](auto member) {
            using Field = std::remove_cvref_t<decltype(params.*member)>;
            if constexpr (std::is_same_v<Field, int64_t>) {
                const int64_t v = param_detail::parse_int(spec->name, value);
                if (v < spec->min || v > spec->max) param_detail::out_of_range(spec->name, value, spec->min, spec->max);
                params.*member = v;
            } else if constexpr (std::is_same_v<Field, double>) {
                const double v = param_detail::parse_double(spec->name, value);
                if (!(v >= spec->min && v <= spec->max)) param_detail::out_of_range(spec->name, value, spec->min, spec->max);
                params.*member = v;
            } else if constexpr (std::is_same_v<Field, bool>) {
                params.*member = param_detail::parse_bool(spec->name, value);
            } else {
                if (!spec->choices.empty()) {
                    bool ok = false;
                    for (const auto& c : spec->choices) ok = ok || c == value;
                    if (!ok) param_detail::not_a_choice(spec->name, value, spec->choices);
                }
                params.*member = value;
            }
        },
        spec->field);
}

template <class P> void set_params(P& params, const std::vector<ParamSpec<P>>& table, const KeyValues& pairs) {
    for (const auto& [key, value] : pairs) set_param(params, table, key, value);
}

template <class P> std::string param_value_string(const P& params, const ParamSpec<P>& spec) {
    return std::visit(
        [&](auto member) -> std::string {
            using Field = std::remove_cvref_t<decltype(params.*member)>;
            if constexpr (std::is_same_v<Field, int64_t>) return std::to_string(params.*member);
            else if constexpr (std::is_same_v<Field, double>) return param_detail::format_double(params.*member);
            else if constexpr (std::is_same_v<Field, bool>) return params.*member ? "true" : "false";
            else return params.*member;
        },
        spec.field);
}

// name -> value, for model metadata and logs.
template <class P> std::map<std::string, std::string> params_to_map(const P& params, const std::vector<ParamSpec<P>>& table) {
    std::map<std::string, std::string> out;
    for (const auto& spec : table) out[spec.name] = param_value_string(params, spec);
    return out;
}

// One line per parameter: name, default, range and help.
template <class P> std::string params_help(const std::vector<ParamSpec<P>>& table) {
    const P defaults{};
    std::string out;
    for (const auto& spec : table) {
        std::string range;
        std::visit(
            [&](auto member) {
                using Field = std::remove_cvref_t<decltype(defaults.*member)>;
                if constexpr (std::is_same_v<Field, int64_t> || std::is_same_v<Field, double>)
                    range = "[" + param_detail::format_double(spec.min) + ", " + param_detail::format_double(spec.max) + "]";
                else if constexpr (std::is_same_v<Field, bool>) range = "true|false";
                else
                    for (size_t i = 0; i < spec.choices.size(); ++i) range += (i ? "|" : "") + spec.choices[i];
            },
            spec.field);
        std::string line = "  " + std::string(spec.name) + "=" + param_value_string(defaults, spec);
        if (line.size() < 34) line.resize(34, ' ');
        line += " " + range;
        if (line.size() < 58) line.resize(58, ' ');
        out += line + " " + spec.help + "\n";
    }
    return out;
}

}  // namespace skipper
