// What both learners store in their model files besides their weights: their
// parameters, and the schema of the features they were trained on (which the
// prediction server also reads to build its form).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/params.h"
#include "engine/serialize.h"

namespace skipper {

struct FeatureSchema {
    std::vector<std::string> names;
    std::vector<bool> categorical;
    std::vector<std::vector<std::string>> category_names;  // per feature; empty for numeric ones
};

void write_feature_schema(ModelFile& file, const FeatureSchema& schema);
// A missing, malformed or inconsistent schema is a FormatError naming `origin`.
FeatureSchema read_feature_schema(const ModelFile& file, const std::string& origin);

inline constexpr const char* kStoredParamPrefix = "param.";

// Stores every parameter as "param.<name>", except those in `omit`.
template <class P>
void write_stored_params(ModelFile& file, const P& params, const std::vector<ParamSpec<P>>& table,
                         const std::set<std::string>& omit = {}) {
    for (const auto& [name, value] : params_to_map(params, table))
        if (omit.count(name) == 0) file.metadata[kStoredParamPrefix + name] = value;
}

// Reads the stored parameters back through the table, so a stored value is
// validated exactly like a user's.
template <class P>
void read_stored_params(const ModelFile& file, P& params, const std::vector<ParamSpec<P>>& table,
                        const std::string& origin) {
    const std::string prefix = kStoredParamPrefix;
    for (const auto& [key, value] : file.metadata) {
        if (key.rfind(prefix, 0) != 0) continue;
        try {
            set_param(params, table, key.substr(prefix.size()), value);
        } catch (const ParamError& e) {
            throw FormatError(origin, std::string("bad stored parameter: ") + e.what());
        }
    }
}

}  // namespace skipper
