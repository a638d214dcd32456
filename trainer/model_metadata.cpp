#include "trainer/model_metadata.h"

#include <nlohmann/json.hpp>

namespace skipper {

void write_feature_schema(ModelFile& file, const FeatureSchema& schema) {
    file.metadata["feature_names"] = nlohmann::json(schema.names).dump();
    file.metadata["categorical"] = nlohmann::json(schema.categorical).dump();
    file.metadata["category_names"] = nlohmann::json(schema.category_names).dump();
}

FeatureSchema read_feature_schema(const ModelFile& file, const std::string& origin) {
    FeatureSchema schema;
    try {
        schema.names = nlohmann::json::parse(file.meta("feature_names")).get<std::vector<std::string>>();
        schema.categorical = nlohmann::json::parse(file.meta("categorical")).get<std::vector<bool>>();
        schema.category_names =
            nlohmann::json::parse(file.meta("category_names")).get<std::vector<std::vector<std::string>>>();
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(origin, std::string("bad feature metadata: ") + e.what());
    } catch (const FormatError&) {
        throw;
    } catch (const Error& e) {
        throw FormatError(origin, e.what());
    }
    const size_t features = schema.names.size();
    if (schema.categorical.size() != features || schema.category_names.size() != features)
        throw FormatError(origin, "feature metadata lists disagree in length");
    return schema;
}

}  // namespace skipper
