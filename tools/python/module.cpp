// skipper._core: the C++ side of the Python package. It only converts: numpy
// arrays in (viewed without a copy: the Python side hands over C-contiguous
// f32 arrays), numpy arrays out, engine exceptions to ValueError, and the
// training progress to a Python callback. The estimators' conventions
// (scikit-learn's) live in the Python package next to this file.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <sstream>
#include <type_traits>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/params.h"
#include "trainer/data/features.h"
#include "trainer/data/split.h"
#include "trainer/gbdt/gbdt.h"
#include "trainer/lstm/lstm.h"
#include "trainer/metrics/session_metrics.h"
#include "tools/data_source.h"
#include "tools/experiment.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace skipper::python {
namespace {

template <size_t Rank> using F32 = nb::ndarray<const float, nb::ndim<Rank>, nb::c_contig, nb::device::cpu>;
using I32Vector = nb::ndarray<const int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// The engine only reads these (every learner takes its data by const
// reference), so viewing a read-only numpy buffer is safe.
template <class Array> Tensor view(const Array& array) {
    Shape shape;
    for (size_t axis = 0; axis < array.ndim(); ++axis) shape.push_back(static_cast<int64_t>(array.shape(axis)));
    return Tensor::view_host(const_cast<float*>(array.data()), shape, DType::f32);
}

// Hands `owner` (a std::vector or a Tensor) to a numpy array through a
// capsule: numpy frees it with the array.
template <class T, class Owner> nb::ndarray<nb::numpy, T> to_numpy(Owner owner, const std::vector<size_t>& shape) {
    auto held = std::make_unique<Owner>(std::move(owner));
    T* data = nullptr;
    if constexpr (std::is_same_v<Owner, Tensor>) data = held->template data<T>();
    else data = held->data();
    nb::capsule capsule(held.get(), [](void* p) noexcept { std::unique_ptr<Owner>(static_cast<Owner*>(p)); });
    held.release();  // the capsule owns it now
    return nb::ndarray<nb::numpy, T>(data, shape.size(), shape.data(), capsule);
}

template <class T> nb::ndarray<nb::numpy, T> vector_to_numpy(std::vector<T> values) {
    const size_t n = values.size();
    return to_numpy<T>(std::move(values), {n});
}

template <class T> nb::ndarray<nb::numpy, T> tensor_to_numpy(const Tensor& tensor) {
    std::vector<size_t> shape;
    for (int64_t d : tensor.shape()) shape.push_back(static_cast<size_t>(d));
    return to_numpy<T>(tensor, shape);
}

// The progress callback the learners call once per iteration (GBDT) or epoch
// (LSTM), from the training thread with the GIL released. It takes the GIL
// for the moment it needs: a pending Ctrl-C (or any error the Python callback
// raises) becomes a nb::python_error that unwinds the trainer, and nanobind
// raises it in Python once the GIL is back.
// It holds a borrowed handle (copying a reference without the GIL would be a
// race): the caller keeps the callback alive until training returns.
ProgressCallback python_progress(nb::handle callback) {
    return [callback](const IterationRecord& record) {
        nb::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) throw nb::python_error();
        if (callback.is_none()) return;
        nb::dict metrics;
        for (const auto& [name, value] : record.metrics) metrics[name.c_str()] = value;
        callback(record.iteration, record.total, record.seconds, metrics);
    };
}

nb::dict log_to_dict(const TrainingLog& log) {
    nb::list records;
    for (const auto& record : log.records) {
        nb::dict entry;
        entry["iteration"] = record.iteration;
        entry["seconds"] = record.seconds;
        for (const auto& [name, value] : record.metrics) entry[name.c_str()] = value;
        records.append(entry);
    }
    nb::dict out;
    out["records"] = records;
    out["best_iteration"] = log.best_iteration;
    out["stopped_reason"] = log.stopped_reason;
    return out;
}

struct Schema {
    std::vector<std::string> names;
    std::vector<bool> categorical;
    std::vector<std::vector<std::string>> category_names;
};

data::TabularDataset tabular(const F32<2>& x, std::optional<F32<1>> y, const Schema& schema) {
    data::TabularDataset out;
    out.feature_names = schema.names;
    out.categorical = schema.categorical;
    out.category_names = schema.category_names;
    out.features = view(x);
    if (y) out.labels = view(*y);
    return out;
}

// Parameters as name -> text, validated by the learner's table. Returns the
// canonical names and values (aliases resolved).
template <class P> P parse_params(const std::vector<std::pair<std::string, std::string>>& pairs,
                                  const std::vector<ParamSpec<P>>& table) {
    P params;
    set_params(params, table, pairs);
    return params;
}

template <class P> nb::list describe_table(const std::vector<ParamSpec<P>>& table) {
    const P defaults{};
    nb::list out;
    for (const auto& spec : table) {
        nb::dict entry;
        entry["name"] = spec.name;
        entry["default"] = param_value_string(defaults, spec);
        entry["aliases"] = spec.aliases;
        entry["help"] = spec.help;
        out.append(entry);
    }
    return out;
}

// ---------------------------------------------------------------- GBDT

std::pair<GbdtModel, nb::dict> train_gbdt_py(const F32<2>& x, const F32<1>& y, const Schema& schema,
                                             std::optional<F32<2>> x_valid, std::optional<F32<1>> y_valid,
                                             const std::vector<std::pair<std::string, std::string>>& pairs,
                                             nb::object callback) {
    const GbdtParams params = parse_params(pairs, gbdt_param_table());
    validate_gbdt_params(params);
    const data::TabularDataset train = tabular(x, y, schema);
    std::optional<data::TabularDataset> valid;
    if (x_valid) valid = tabular(*x_valid, y_valid, schema);
    const ProgressCallback progress = python_progress(callback);
    TrainingLog log;
    GbdtModel model;
    {
        nb::gil_scoped_release release;
        model = train_gbdt(train, valid ? &*valid : nullptr, params, &log, progress);
    }
    return {std::move(model), log_to_dict(log)};
}

nb::ndarray<nb::numpy, double> gbdt_predict(const GbdtModel& model, const F32<2>& x, bool raw) {
    const Tensor features = view(x);
    std::vector<double> out;
    {
        nb::gil_scoped_release release;
        out = raw ? model.predict_raw(features) : model.predict_proba(features);
    }
    return vector_to_numpy(std::move(out));
}

nb::bytes model_bytes(const std::vector<uint8_t>& bytes) {
    return nb::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::vector<uint8_t> bytes_of(const nb::bytes& bytes) {
    const auto* begin = static_cast<const uint8_t*>(bytes.data());
    return {begin, begin + bytes.size()};
}

// ---------------------------------------------------------------- LSTM

LstmParams lstm_params(const std::vector<std::pair<std::string, std::string>>& pairs, const char* arch) {
    KeyValues all(pairs.begin(), pairs.end());
    all.emplace_back("arch", arch);
    return lstm_params_from(all);
}

data::SequenceDataset sequences(const F32<3>& x, std::optional<F32<2>> y, const F32<2>& step_mask,
                                std::optional<F32<2>> predict_mask, const std::vector<std::string>& names) {
    data::SequenceDataset out;
    out.feature_names = names;
    out.inputs = view(x);
    out.step_mask = view(step_mask);
    if (y) out.labels = view(*y);
    if (predict_mask) out.predict_mask = view(*predict_mask);
    // The session task's halves (DESIGN section 1): of a session's L real
    // steps, the first floor(L/2) are its history. The encoder-decoder model
    // reads them; the caller gives only which steps are real.
    const int64_t sessions = out.sessions(), steps = out.max_steps();
    out.history_mask = Tensor::zeros({sessions, steps}, DType::f32);
    out.lengths.resize(static_cast<size_t>(sessions));
    const float* real = out.step_mask.data<float>();
    float* history = out.history_mask.data<float>();
    for (int64_t s = 0; s < sessions; ++s) {
        int32_t length = 0;
        for (int64_t t = 0; t < steps; ++t) length += real[s * steps + t] != 0.0f;
        out.lengths[static_cast<size_t>(s)] = length;
        for (int64_t t = 0, seen = 0; t < steps && seen < data::history_length(length); ++t)
            if (real[s * steps + t] != 0.0f) {
                history[s * steps + t] = 1.0f;
                ++seen;
            }
    }
    return out;
}

std::pair<LstmModel, nb::dict> train_lstm_rows(const F32<2>& x, const F32<1>& y, const Schema& schema,
                                               std::optional<F32<2>> x_valid, std::optional<F32<1>> y_valid,
                                               const std::vector<std::pair<std::string, std::string>>& pairs,
                                               nb::object callback) {
    const LstmParams params = lstm_params(pairs, "seed");
    const data::TabularDataset train = tabular(x, y, schema);
    std::optional<data::TabularDataset> valid;
    if (x_valid) valid = tabular(*x_valid, y_valid, schema);
    const ProgressCallback progress = python_progress(callback);
    TrainingLog log;
    LstmModel model;
    {
        nb::gil_scoped_release release;
        model = train_lstm(train, valid ? &*valid : nullptr, params, &log, progress);
    }
    return {std::move(model), log_to_dict(log)};
}

std::pair<LstmModel, nb::dict> train_lstm_sequences(const F32<3>& x, const F32<2>& y, const F32<2>& step_mask,
                                                    const F32<2>& predict_mask, const std::vector<std::string>& names,
                                                    std::optional<F32<3>> x_valid, std::optional<F32<2>> y_valid,
                                                    std::optional<F32<2>> step_mask_valid,
                                                    std::optional<F32<2>> predict_mask_valid,
                                                    const std::vector<std::pair<std::string, std::string>>& pairs,
                                                    nb::object callback) {
    const LstmParams params = lstm_params(pairs, "session");
    const data::SequenceDataset train = sequences(x, y, step_mask, predict_mask, names);
    std::optional<data::SequenceDataset> valid;
    if (x_valid) valid = sequences(*x_valid, y_valid, *step_mask_valid, predict_mask_valid, names);
    const ProgressCallback progress = python_progress(callback);
    TrainingLog log;
    LstmModel model;
    {
        nb::gil_scoped_release release;
        model = train_lstm(train, valid ? &*valid : nullptr, params, &log, progress);
    }
    return {std::move(model), log_to_dict(log)};
}

nb::ndarray<nb::numpy, double> lstm_predict_rows(const LstmModel& model, const F32<2>& x) {
    const Schema schema{model.feature_names(), model.categorical(), model.category_names()};
    const data::TabularDataset rows = tabular(x, std::nullopt, schema);
    std::vector<double> out;
    {
        nb::gil_scoped_release release;
        out = model.predict_proba(rows);
    }
    return vector_to_numpy(std::move(out));
}

nb::ndarray<nb::numpy, double> lstm_predict_sequences(const LstmModel& model, const F32<3>& x, const F32<2>& step_mask) {
    const data::SequenceDataset data = sequences(x, std::nullopt, step_mask, std::nullopt, model.feature_names());
    std::vector<double> out;
    {
        nb::gil_scoped_release release;
        out = model.predict_proba(data);
    }
    return to_numpy<double>(std::move(out), {x.shape(0), x.shape(1)});
}

// ---------------------------------------------------------------- data

// The command line's own loading path (tools::load_data, then
// tools::build_task_data with every row in the "test" part, as `skipper eval`
// does), so every layout the command line reads reads here too.
nb::dict read_mssd_py(const std::string& data_dir, const std::string& log_path, const std::string& tracks_path,
                      int64_t sessions, int64_t sample_seed, const std::string& on_bad_row, const std::string& task,
                      bool with_leak, bool sequence_form) {
    const tools::DataSource source{data_dir, log_path, tracks_path, sessions, sample_seed, on_bad_row};
    const tools::TaskChoice choice{tools::parse_task(task), with_leak};
    if (sequence_form && choice.task != tools::Task::session)
        throw ParamError("form", "the sequence form exists for the session task only");
    std::ostringstream messages;
    std::vector<std::string> warnings;
    tools::LoadedData loaded;
    tools::TaskData task_data;
    {
        nb::gil_scoped_release release;
        loaded = tools::load_data(source, messages);
        task_data = tools::build_task_data(loaded.mssd, choice, sequence_form, {1.0, 0},
                                           [&](const std::string& message) { warnings.push_back(message); });
    }
    if (!messages.str().empty()) warnings.push_back(messages.str());
    nb::dict out;
    out["description"] = loaded.description;
    out["warnings"] = warnings;
    out["session_ids"] = loaded.mssd.log.session_ids;
    if (sequence_form) {
        const auto& s = task_data.test_sequences;
        out["feature_names"] = s.feature_names;
        out["data"] = tensor_to_numpy<float>(s.inputs);
        out["target"] = tensor_to_numpy<float>(s.labels);
        out["step_mask"] = tensor_to_numpy<float>(s.step_mask);
        out["history_mask"] = tensor_to_numpy<float>(s.history_mask);
        out["predict_mask"] = tensor_to_numpy<float>(s.predict_mask);
        out["lengths"] = vector_to_numpy(std::vector<int32_t>(s.lengths));
        return out;
    }
    const auto& rows = task_data.test_rows;
    out["feature_names"] = rows.feature_names;
    out["categorical"] = rows.categorical;
    out["category_names"] = rows.category_names;
    out["data"] = tensor_to_numpy<float>(rows.features);
    out["target"] = tensor_to_numpy<float>(rows.labels);
    if (!rows.session_index.empty()) {
        out["session_index"] = vector_to_numpy(std::vector<int32_t>(rows.session_index));
        out["position"] = vector_to_numpy(std::vector<int32_t>(rows.position));
    }
    return out;
}

nb::dict scores_to_dict(const metrics::SessionScores& scores) {
    nb::dict out;
    out["average_accuracy"] = scores.mean_average_accuracy;
    out["first_prediction_accuracy"] = scores.first_prediction_accuracy;
    out["sessions"] = scores.sessions;
    return out;
}

std::span<const float> span_of(const F32<1>& a) { return {a.data(), a.shape(0)}; }
std::span<const int32_t> span_of(const I32Vector& a) { return {a.data(), a.shape(0)}; }

// The session metrics read labels and masks, and the session and step counts
// from the inputs' shape: the inputs have no features here.
data::SequenceDataset masks_only(const F32<2>& labels, std::optional<F32<2>> history_mask, const F32<2>& predict_mask) {
    data::SequenceDataset out;
    out.labels = view(labels);
    if (history_mask) out.history_mask = view(*history_mask);
    out.predict_mask = view(predict_mask);
    out.inputs = Tensor::empty({static_cast<int64_t>(labels.shape(0)), static_cast<int64_t>(labels.shape(1)), 0},
                               DType::f32);
    return out;
}

void translate_errors(const std::exception_ptr& error, void*) {
    try {
        std::rethrow_exception(error);
    } catch (const CudaError& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const Error& e) {
        // ParamError (a parameter, named), DataError (file, line, column),
        // FormatError (a model file) and the learners' checks on their data.
        PyErr_SetString(PyExc_ValueError, e.what());
    }
}

}  // namespace
}  // namespace skipper::python

NB_MODULE(_core, m) {
    using namespace skipper;
    using namespace skipper::python;
    m.doc() = "Skipper's C++ engine; use the skipper package's estimators rather than this module.";
    nb::register_exception_translator(translate_errors);

    m.def("version", [] { return std::string(SKIPPER_VERSION); });
    m.def("built_with_cuda", &built_with_cuda);
    m.def("cuda_available", &cuda_available);
    m.def("gbdt_param_table", [] { return describe_table(gbdt_param_table()); });
    m.def("lstm_param_table", [] { return describe_table(lstm_param_table()); });
    m.def(
        "check_gbdt_params",
        [](const std::vector<std::pair<std::string, std::string>>& pairs) {
            const GbdtParams params = parse_params(pairs, gbdt_param_table());
            validate_gbdt_params(params);
            return params_to_map(params, gbdt_param_table());
        },
        "pairs"_a);
    m.def(
        "check_lstm_params",
        [](const std::vector<std::pair<std::string, std::string>>& pairs, const std::string& arch) {
            return params_to_map(lstm_params(pairs, arch.c_str()), lstm_param_table());
        },
        "pairs"_a, "arch"_a);

    nb::class_<Schema>(m, "Schema")
        .def(nb::init<std::vector<std::string>, std::vector<bool>, std::vector<std::vector<std::string>>>(),
             "names"_a, "categorical"_a, "category_names"_a);

    nb::class_<GbdtModel>(m, "GbdtModel")
        .def("predict_proba", [](const GbdtModel& model, const F32<2>& x) { return gbdt_predict(model, x, false); },
             "x"_a.noconvert())
        .def("predict_raw", [](const GbdtModel& model, const F32<2>& x) { return gbdt_predict(model, x, true); },
             "x"_a.noconvert())
        .def("feature_importance",
             [](const GbdtModel& model, const std::string& kind) {
                 if (kind != "split" && kind != "gain")
                     throw ParamError("importance_type", "expected split or gain, got '" + kind + "'");
                 return vector_to_numpy(model.feature_importance(kind == "split" ? ImportanceType::split
                                                                                 : ImportanceType::gain));
             })
        .def("save", &GbdtModel::save, "path"_a)
        .def_static("load", &GbdtModel::load, "path"_a)
        .def("to_bytes", [](const GbdtModel& model) { return model_bytes(model.to_bytes()); })
        .def_static("from_bytes",
                    [](const nb::bytes& bytes) { return GbdtModel::from_bytes(bytes_of(bytes), "pickled GBDT model"); })
        .def_prop_ro("feature_names", &GbdtModel::feature_names)
        .def_prop_ro("categorical", &GbdtModel::categorical)
        .def_prop_ro("category_names", &GbdtModel::category_names)
        .def_prop_ro("num_trees", &GbdtModel::num_trees)
        .def_prop_ro("params", [](const GbdtModel& model) { return params_to_map(model.params(), gbdt_param_table()); });

    nb::class_<LstmModel>(m, "LstmModel")
        .def("predict_rows", &lstm_predict_rows, "x"_a.noconvert())
        .def("predict_sequences", &lstm_predict_sequences, "x"_a.noconvert(), "step_mask"_a.noconvert())
        .def("save", &LstmModel::save, "path"_a)
        .def_static("load", &LstmModel::load, "path"_a)
        .def("to_bytes", [](const LstmModel& model) { return model_bytes(model.to_bytes()); })
        .def_static("from_bytes",
                    [](const nb::bytes& bytes) { return LstmModel::from_bytes(bytes_of(bytes), "pickled LSTM model"); })
        .def_prop_ro("arch", &LstmModel::arch)
        .def_prop_ro("feature_names", &LstmModel::feature_names)
        .def_prop_ro("categorical", &LstmModel::categorical)
        .def_prop_ro("category_names", &LstmModel::category_names)
        .def_prop_ro("params", [](const LstmModel& model) { return params_to_map(model.params(), lstm_param_table()); });

    m.def("train_gbdt", &train_gbdt_py, "x"_a.noconvert(), "y"_a.noconvert(), "schema"_a, "x_valid"_a.noconvert().none(),
          "y_valid"_a.noconvert().none(), "params"_a, "callback"_a.none());
    m.def("train_lstm_rows", &train_lstm_rows, "x"_a.noconvert(), "y"_a.noconvert(), "schema"_a,
          "x_valid"_a.noconvert().none(), "y_valid"_a.noconvert().none(), "params"_a, "callback"_a.none());
    m.def("train_lstm_sequences", &train_lstm_sequences, "x"_a.noconvert(), "y"_a.noconvert(), "step_mask"_a.noconvert(),
          "predict_mask"_a.noconvert(), "feature_names"_a, "x_valid"_a.noconvert().none(),
          "y_valid"_a.noconvert().none(), "step_mask_valid"_a.noconvert().none(),
          "predict_mask_valid"_a.noconvert().none(), "params"_a, "callback"_a.none());

    m.def("read_mssd", &read_mssd_py, "data_dir"_a, "log"_a, "tracks"_a, "sessions"_a, "sample_seed"_a, "on_bad_row"_a,
          "task"_a, "with_leak"_a, "sequence_form"_a);
    m.def(
        "split",
        [](int64_t count, double test_fraction, uint64_t seed) {
            // The command line's split (rows for the seed task, sessions for the session task).
            const data::Split parts = data::random_split(count, test_fraction, seed);
            return std::make_pair(vector_to_numpy(std::vector<int64_t>(parts.train)),
                                  vector_to_numpy(std::vector<int64_t>(parts.test)));
        },
        "count"_a, "test_fraction"_a, "seed"_a);

    m.def(
        "session_scores_rows",
        [](const I32Vector& session_index, const I32Vector& position, const F32<1>& labels, const F32<1>& scores) {
            return scores_to_dict(
                metrics::session_scores(span_of(session_index), span_of(position), span_of(labels), span_of(scores)));
        },
        "session_index"_a.noconvert(), "position"_a.noconvert(), "labels"_a.noconvert(), "scores"_a.noconvert());
    m.def(
        "session_scores_sequences",
        [](const F32<2>& labels, const F32<2>& scores, const F32<2>& predict_mask) {
            return scores_to_dict(metrics::session_scores(masks_only(labels, std::nullopt, predict_mask), view(scores)));
        },
        "labels"_a.noconvert(), "scores"_a.noconvert(), "predict_mask"_a.noconvert());
    m.def(
        "repeat_last_rows",
        [](const F32<2>& x, const std::vector<std::string>& feature_names) {
            data::TabularDataset rows;
            rows.feature_names = feature_names;
            rows.features = view(x);
            return vector_to_numpy(metrics::repeat_last_skip_predictions(rows));
        },
        "x"_a.noconvert(), "feature_names"_a);
    m.def(
        "repeat_last_sequences",
        [](const F32<2>& labels, const F32<2>& history_mask, const F32<2>& predict_mask) {
            return tensor_to_numpy<float>(
                metrics::repeat_last_skip_predictions(masks_only(labels, history_mask, predict_mask)));
        },
        "labels"_a.noconvert(), "history_mask"_a.noconvert(), "predict_mask"_a.noconvert());
}
