// One interface over both learners' model files, for everything that answers
// predictions: the server, its web page and `skipper predict`. A predictor
// knows the features its model was trained on (names, categories) and turns
// named values into the model's input rows.
#pragma once

#include <map>
#include <stdexcept>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "trainer/data/features.h"
#include "trainer/data/mssd.h"

namespace skipper::tools {

struct FeatureField {
    std::string name;
    bool categorical = false;
    std::vector<std::string> categories;  // code order, for categorical fields
};

class Predictor {
public:
    virtual ~Predictor() = default;

    virtual std::string learner() const = 0;  // "gbdt" or "lstm"
    virtual std::string task() const = 0;     // "seed" or "session"
    // True for a model that predicts single rows of its features (every gbdt
    // model, the lstm seed model).
    virtual bool takes_rows() const = 0;
    // True for a session-task model (either learner): it answers sessions
    // sent in the data's own terms (tools/session_input.h).
    virtual bool takes_sessions() const = 0;
    virtual const std::vector<FeatureField>& fields() const = 0;
    // Everything the model file says about itself, for GET /api/v1/model,
    // plus "model_checksum" (FNV-1a of the file's bytes, in hex).
    virtual std::map<std::string, std::string> metadata() const = 0;

    // `values` holds `rows` rows of fields().size() values in field order (NaN
    // for missing); returns one skip probability per row. Safe to call from
    // many threads at once.
    virtual std::vector<double> predict_rows(const std::vector<float>& values, int64_t rows) const = 0;
    // One whole session (positions 1..L, the history first), its features
    // built as training builds them, with the track statistics `z`. Returns one
    // skip probability per position to predict. Safe to call from many
    // threads at once.
    virtual std::vector<double> predict_session(const data::MssdData& session,
                                                const data::TrackStandardiser& z) const = 0;
};

// Loads a model file of either learner; which one is read from its metadata.
std::unique_ptr<Predictor> load_predictor(const std::string& path);

// A request's value for one field that could not be used; the server answers
// 400 naming `field`.
class FieldError : public std::runtime_error {
public:
    FieldError(std::string field, const std::string& what);
    const std::string& field() const { return field_; }

private:
    std::string field_;
};

// Encodes one JSON object {"name": value, ...} into a row, in field order.
// Categorical fields take a category name (or its code); numeric fields take a
// number or a boolean; null marks a missing value. Unknown and missing names
// are FieldErrors; `where` prefixes the field name, e.g. "rows[3].".
void encode_json_row(const std::vector<FeatureField>& fields, const nlohmann::json& object, const std::string& where,
                     std::vector<float>& out);
// The same for text values, as an HTML form sends them.
void encode_text_row(const std::vector<FeatureField>& fields, const std::map<std::string, std::string>& values,
                     std::vector<float>& out);

}  // namespace skipper::tools
