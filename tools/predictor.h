// One interface over both learners' model files, for everything that answers
// predictions: the server, its web page and `skipper predict`. A predictor
// knows the features its model was trained on (names, categories) and turns
// named values into the model's input rows.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

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
    // True for an lstm session model: its input is a whole session, one step per track.
    virtual bool takes_sessions() const = 0;
    virtual const std::vector<FeatureField>& fields() const = 0;
    // Everything the model file says about itself, for GET /api/v1/model.
    virtual std::map<std::string, std::string> metadata() const = 0;

    // `values` holds `rows` rows of fields().size() values in field order (NaN
    // for missing); returns one skip probability per row. Safe to call from
    // many threads at once.
    virtual std::vector<double> predict_rows(const std::vector<float>& values, int64_t rows) const = 0;
    // `steps` holds one session's tracks, fields().size() values each, and
    // `history` of them are the session's known first half. Returns one skip
    // probability per track to predict (the steps after the history).
    virtual std::vector<double> predict_session(const std::vector<float>& steps, int64_t num_steps,
                                                int64_t history) const = 0;
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
