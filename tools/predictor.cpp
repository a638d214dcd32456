#include "tools/predictor.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <nlohmann/json.hpp>

namespace skipper::tools {

FieldError::FieldError(std::string field, const std::string& what)
    : std::runtime_error("field '" + field + "': " + what), field_(std::move(field)) {}

namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();

std::string category_list(const FeatureField& field) {
    std::string list;
    for (size_t i = 0; i < field.categories.size(); ++i) list += (i ? ", " : "") + field.categories[i];
    return list;
}

float category_code(const FeatureField& field, const std::string& name, const std::string& text) {
    for (size_t i = 0; i < field.categories.size(); ++i)
        if (field.categories[i] == text) return static_cast<float>(i);
    throw FieldError(name, "unknown category '" + text + "' (expected one of " + category_list(field) + ")");
}

// Values the model's f32 inputs cannot hold are refused rather than rounded to infinity.
float to_float(const std::string& name, double value) {
    if (!std::isfinite(value) || std::fabs(value) > std::numeric_limits<float>::max())
        throw FieldError(name, "value is out of range");
    return static_cast<float>(value);
}

float parse_number(const std::string& name, const std::string& text) {
    if (text == "true" || text == "True") return 1.0f;
    if (text == "false" || text == "False") return 0.0f;
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(value))
        throw FieldError(name, "expected a number, got '" + text + "'");
    return to_float(name, value);
}

float encode_json_value(const FeatureField& field, const std::string& name, const nlohmann::json& value) {
    if (value.is_null()) return kMissing;
    if (field.categorical) {
        if (value.is_string()) return category_code(field, name, value.get<std::string>());
        if (value.is_number_integer()) {
            const auto code = value.get<int64_t>();
            if (code < 0 || code >= static_cast<int64_t>(field.categories.size()))
                throw FieldError(name, "category code " + std::to_string(code) + " is out of range (expected one of " +
                                           category_list(field) + ")");
            return static_cast<float>(code);
        }
        throw FieldError(name, "expected a category name (one of " + category_list(field) + "), got " + value.dump());
    }
    if (value.is_boolean()) return value.get<bool>() ? 1.0f : 0.0f;
    if (value.is_number()) {
        return to_float(name, value.get<double>());
    }
    if (value.is_string()) return parse_number(name, value.get<std::string>());
    throw FieldError(name, "expected a number, got " + value.dump());
}

}  // namespace

void encode_json_row(const std::vector<FeatureField>& fields, const nlohmann::json& object, const std::string& where,
                     std::vector<float>& out) {
    if (!object.is_object()) {
        const std::string name = where.empty() ? "features" : where.substr(0, where.size() - 1);
        throw FieldError(name, "expected an object of feature values, got " + object.dump());
    }
    for (const auto& [key, value] : object.items()) {
        bool known = false;
        for (const auto& field : fields) known = known || field.name == key;
        if (!known) throw FieldError(where + key, "unknown feature (GET /api/v1/model lists the model's features)");
    }
    for (const auto& field : fields) {
        const auto it = object.find(field.name);
        if (it == object.end()) throw FieldError(where + field.name, "missing (use null for a missing value)");
        out.push_back(encode_json_value(field, where + field.name, *it));
    }
}

void encode_text_row(const std::vector<FeatureField>& fields, const std::map<std::string, std::string>& values,
                     std::vector<float>& out) {
    for (const auto& field : fields) {
        const auto it = values.find(field.name);
        if (it == values.end() || it->second.empty()) throw FieldError(field.name, "missing");
        out.push_back(field.categorical ? category_code(field, field.name, it->second)
                                        : parse_number(field.name, it->second));
    }
}

}  // namespace skipper::tools
