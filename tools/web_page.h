// The form page the server answers on GET / and POST /predict: one dropdown
// per feature of the served model, filled with the feature's real value set
// (DESIGN section 5), and the verdict once the form was sent. Plain HTML and
// inline CSS, embedded in the binary: the page needs nothing from the network.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tools/predictor.h"

namespace skipper::tools {

struct FormOption {
    std::string value;  // what the form sends
    std::string label;  // what the user reads
};

// The values offered for a field: its categories, or the known range of a
// numeric MSSD column. Empty for a numeric column without a known value set
// (the page then shows a number box).
std::vector<FormOption> form_options(const FeatureField& field);

struct Verdict {
    double probability = 0.0;
};

std::string verdict_sentence(double probability);  // "The track will (not) be skipped"

// `chosen` preselects values (the last form sent); `error` is shown above the form.
std::string render_form_page(const Predictor& predictor, const std::map<std::string, std::string>& chosen,
                             const std::optional<Verdict>& verdict, const std::string& error);

std::string html_escape(const std::string& text);

}  // namespace skipper::tools
