#include "trainer/lstm/batch.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <utility>

#include "engine/error.h"
#include "engine/ops.h"

namespace skipper::lstm {

namespace {

void require_host_f32(const Tensor& t, const char* what) {
    if (t.defined() && (t.device() != Device::cpu || t.dtype() != DType::f32))
        throw Error(std::string("LSTM input: ") + what + " must be an f32 host tensor, got " + t.describe());
}

float standardise(float x, const Standardiser& s, size_t f) {
    if (std::isnan(x)) return 0.0f;
    return static_cast<float>((x - s.mean[f]) / s.scale[f]);
}

void check_sequence_dataset(const data::SequenceDataset& data) {
    require_host_f32(data.inputs, "inputs");
    require_host_f32(data.labels, "labels");
    require_host_f32(data.step_mask, "step_mask");
    require_host_f32(data.predict_mask, "predict_mask");
    if (!data.inputs.defined()) return;
    if (data.inputs.dim() != 3 || data.inputs.size(2) != data.num_features())
        throw Error("LSTM input: inputs must be [sessions, steps, " + std::to_string(data.num_features()) +
                    " features], got " + data.inputs.describe());
    const Shape per_step{data.sessions(), data.max_steps()};
    if (!data.step_mask.defined() || data.step_mask.shape() != per_step)
        throw Error("LSTM input: step_mask must be f32" + shape_string(per_step));
    for (const Tensor* t : {&data.labels, &data.predict_mask})
        if (t->defined() && t->shape() != per_step)
            throw Error("LSTM input: labels and predict_mask must be f32" + shape_string(per_step) + ", got " +
                        t->describe());
}

}  // namespace

void StandardiserFit::add_row(const float* x) {
    for (size_t f = 0; f < sum_.size(); ++f) {
        if (std::isnan(x[f])) continue;
        sum_[f] += x[f];
        sum_sq_[f] += static_cast<double>(x[f]) * x[f];
        ++count_[f];
    }
}

void StandardiserFit::add_steps(const float* x, const float* step_mask, int64_t cells) {
    for (int64_t i = 0; i < cells; ++i)
        if (step_mask[i] != 0.0f) add_row(x + static_cast<size_t>(i) * sum_.size());
}

Standardiser StandardiserFit::finish() const {
    Standardiser s;
    for (size_t f = 0; f < sum_.size(); ++f) {
        const double n = static_cast<double>(count_[f]);
        const double mean = n > 0 ? sum_[f] / n : 0.0;
        const double var = n > 0 ? std::fmax(sum_sq_[f] / n - mean * mean, 0.0) : 0.0;
        const double sd = std::sqrt(var);
        s.mean.push_back(mean);
        s.scale.push_back(sd > 1e-12 * std::fmax(1.0, std::fabs(mean)) ? sd : 1.0);
    }
    return s;
}

std::vector<double> StandardiserFit::sums() const {
    std::vector<double> out(sum_);
    out.insert(out.end(), sum_sq_.begin(), sum_sq_.end());
    for (const int64_t n : count_) out.push_back(static_cast<double>(n));
    return out;
}

void StandardiserFit::add_sums(const std::vector<double>& sums) {
    const size_t features = sum_.size();
    if (sums.size() != 3 * features)
        throw Error("StandardiserFit::add_sums: " + std::to_string(sums.size()) + " sums for " +
                    std::to_string(features) + " features");
    for (size_t f = 0; f < features; ++f) {
        sum_[f] += sums[f];
        sum_sq_[f] += sums[features + f];
        count_[f] += static_cast<int64_t>(sums[2 * features + f]);
    }
}

Standardiser fit_standardiser(const data::TabularDataset& data) {
    require_host_f32(data.features, "features");
    const auto features = static_cast<size_t>(data.num_features());
    StandardiserFit fit(features);
    const float* x = data.features.defined() ? data.features.data<float>() : nullptr;
    for (int64_t r = 0; r < data.rows(); ++r) fit.add_row(x + static_cast<size_t>(r) * features);
    return fit.finish();
}

Standardiser fit_standardiser(const data::SequenceDataset& data) {
    check_sequence_dataset(data);
    StandardiserFit fit(static_cast<size_t>(data.num_features()));
    if (!data.inputs.defined()) return fit.finish();
    fit.add_steps(data.inputs.data<float>(), data.step_mask.data<float>(), data.sessions() * data.max_steps());
    return fit.finish();
}

TabularSource::TabularSource(const data::TabularDataset& data, Standardiser standardiser)
    : data_(data), standardiser_(std::move(standardiser)), rows_(data.rows()), features_(data.num_features()) {
    require_host_f32(data.features, "features");
    require_host_f32(data.labels, "labels");
    if (data.features.defined() && (data.features.dim() != 2 || data.features.size(1) != features_))
        throw Error("LSTM input: features must be [rows, " + std::to_string(features_) + "], got " +
                    data.features.describe());
    if (data.labels.defined() && data.labels.numel() != rows_)
        throw Error("LSTM input: " + std::to_string(rows_) + " rows but labels " + data.labels.describe());
    if (standardiser_.mean.size() != static_cast<size_t>(features_))
        throw Error("LSTM input: the standardiser has " + std::to_string(standardiser_.mean.size()) +
                    " features, the data " + std::to_string(features_));
}

double TabularSource::fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask,
                           float* targets, float* weights, int32_t* tracks) const {
    if (tracks != nullptr) throw Error("LSTM input: rows have no tracks to embed (track_embedding_dim is for sessions)");
    const float* x = data_.features.data<float>();
    const float* y = data_.labels.defined() ? data_.labels.data<float>() : nullptr;
    for (size_t b = 0; b < indices.size(); ++b) {
        const int64_t row = indices[b];
        for (int64_t t = 0; t < features_; ++t) {
            const auto cell = static_cast<size_t>(t * batch) + b;
            inputs[cell] = standardise(x[row * features_ + t], standardiser_, static_cast<size_t>(t));
            mask[cell] = 1.0f;
        }
        targets[b] = y != nullptr ? y[row] : 0.0f;
        weights[b] = 1.0f;
    }
    return static_cast<double>(indices.size());
}

SequenceSource::SequenceSource(const data::SequenceDataset& data, Standardiser standardiser, int64_t encoder_steps,
                               int64_t track_rows)
    : data_(data),
      standardiser_(std::move(standardiser)),
      sessions_(data.sessions()),
      steps_(data.max_steps()),
      features_(data.num_features()),
      track_rows_(track_rows) {
    check_sequence_dataset(data);
    if (track_rows_ > 0 && sessions_ > 0) {
        const Shape per_step{sessions_, steps_};
        if (!data.track_hash.defined() || data.track_hash.dtype() != DType::i32 ||
            data.track_hash.device() != Device::cpu || data.track_hash.shape() != per_step)
            throw Error("LSTM input: the track embedding needs track_hash i32" + shape_string(per_step) +
                        " on the host (each step's hashed track id), got " +
                        (data.track_hash.defined() ? data.track_hash.describe() : std::string("none")));
    }
    if (standardiser_.mean.size() != static_cast<size_t>(features_))
        throw Error("LSTM input: the standardiser has " + std::to_string(standardiser_.mean.size()) +
                    " features, the data " + std::to_string(features_));
    if (encoder_steps == 0 || sessions_ == 0) return;
    const Shape per_step{sessions_, steps_};
    if (!data.history_mask.defined() || data.history_mask.shape() != per_step)
        throw Error("LSTM input: the encoder-decoder model needs history_mask f32" + shape_string(per_step) +
                    " (the history steps of each session), got " +
                    (data.history_mask.defined() ? data.history_mask.describe() : std::string("none")));
    require_host_f32(data.history_mask, "history_mask");
    // The history is the run of history_mask steps at the session's start.
    const float* history = data.history_mask.data<float>();
    const float* step = data.step_mask.data<float>();
    for (int64_t s = 0; s < sessions_; ++s) {
        int64_t history_steps = 0, length = 0;
        for (int64_t t = 0; t < steps_; ++t) {
            history_steps += history[s * steps_ + t] != 0.0f;
            length += step[s * steps_ + t] != 0.0f;
        }
        const int64_t offset = encoder_steps - history_steps;
        if (offset < 0 || length + offset > steps_)
            throw Error("LSTM input: session " + std::to_string(s) + " (" + std::to_string(history_steps) +
                        " history steps of " + std::to_string(length) + ") does not fit an encoder of " +
                        std::to_string(encoder_steps) + " steps and a decoder of " +
                        std::to_string(steps_ - encoder_steps));
        offsets_.push_back(offset);
    }
}

double SequenceSource::fill(const std::vector<int64_t>& indices, int64_t batch, float* inputs, float* mask,
                            float* targets, float* weights, int32_t* tracks) const {
    if ((tracks != nullptr) != (track_rows_ > 0))
        throw Error("LSTM input: the batch and the source disagree on the track embedding");
    const int32_t* track_hash = track_rows_ > 0 ? data_.track_hash.data<int32_t>() : nullptr;
    const float* x = data_.inputs.data<float>();
    const float* step_mask = data_.step_mask.data<float>();
    const float* y = data_.labels.defined() ? data_.labels.data<float>() : nullptr;
    const float* predict = data_.predict_mask.defined() ? data_.predict_mask.data<float>() : nullptr;
    double weight_sum = 0.0;
    for (size_t b = 0; b < indices.size(); ++b) {
        const int64_t session = indices[b];
        const int64_t offset = step_offset(session);
        for (int64_t t = 0; t + offset < steps_; ++t) {
            const int64_t item = session * steps_ + t;
            const auto cell = static_cast<size_t>((t + offset) * batch) + b;
            if (step_mask[item] == 0.0f) continue;  // padding stays zero
            mask[cell] = 1.0f;
            const float* step = x + item * features_;
            float* out = inputs + cell * static_cast<size_t>(features_);
            for (int64_t f = 0; f < features_; ++f) out[f] = standardise(step[f], standardiser_, static_cast<size_t>(f));
            targets[cell] = y != nullptr ? y[item] : 0.0f;
            weights[cell] = predict != nullptr ? predict[item] : 0.0f;
            weight_sum += weights[cell];
            if (tracks != nullptr) tracks[cell] = row_of(track_hash[item]);
        }
    }
    if (data_.read_bytes) {
        const int64_t per_step = features_ + 5;  // inputs, labels, the three masks and the track hash
        data_.read_bytes(indices.size() * static_cast<size_t>(steps_ * per_step) * sizeof(float));
    }
    return weight_sum;
}

int32_t SequenceSource::row_of(int32_t track_hash) const {
    if (track_hash < 0) return -1;
    const int32_t row = ops::hash_bucket(track_hash, track_rows_);
    return !excluded_.empty() && excluded_[static_cast<size_t>(row)] ? -1 : row;
}

std::vector<int64_t> SequenceSource::row_counts(const std::vector<int64_t>& items) const {
    if (track_rows_ == 0) throw Error("LSTM input: row_counts needs the track embedding's rows");
    std::vector<int64_t> count(static_cast<size_t>(track_rows_), 0);
    const int32_t* track_hash = data_.track_hash.data<int32_t>();
    for (int64_t item : items)
        for (int64_t t = 0; t < steps_; ++t) {
            const int32_t hash = track_hash[item * steps_ + t];
            if (hash >= 0) ++count[static_cast<size_t>(ops::hash_bucket(hash, track_rows_))];
        }
    return count;
}

std::vector<int64_t> SequenceSource::rare_rows(const std::vector<int64_t>& items, int64_t min_count) const {
    return rows_below(row_counts(items), min_count);
}

std::vector<int64_t> rows_below(const std::vector<int64_t>& counts, int64_t min_count) {
    std::vector<int64_t> rare;
    for (size_t row = 0; row < counts.size(); ++row)
        if (counts[row] < min_count) rare.push_back(static_cast<int64_t>(row));
    return rare;
}

void SequenceSource::exclude_rows(const std::vector<int64_t>& rows) {
    excluded_.assign(static_cast<size_t>(track_rows_), false);
    for (int64_t row : rows) excluded_.at(static_cast<size_t>(row)) = true;
}

BatchStaging::BatchStaging(LstmNetwork& net, int64_t steps, int64_t batch)
    : net_(net), steps_(steps), batch_(batch), uploader_(net.context()) {
    if (net.dtype() != DType::f32) throw Error("BatchStaging: the network must train in f32");
    LstmBatch& device = net.batch(steps, batch);
    if (net.device() == Device::cpu) {
        host_ = device;
    } else {
        host_.inputs = Tensor::zeros(device.inputs.shape(), DType::f32);
        host_.mask = Tensor::zeros(device.mask.shape(), DType::f32);
        host_.targets = Tensor::zeros(device.targets.shape(), DType::f32);
        host_.weights = Tensor::zeros(device.weights.shape(), DType::f32);
        if (device.tracks.defined()) host_.tracks = Tensor::zeros(device.tracks.shape(), DType::i32);
    }
}

LstmBatch& BatchStaging::device_batch() {
    // The network may have been used for another shape since (validation).
    LstmBatch& device = net_.batch(steps_, batch_);
    if (net_.device() == Device::cpu) host_ = device;
    return device;
}

void BatchStaging::upload(const LstmBatch& device) {
    if (net_.device() == Device::cpu) return;
    std::vector<Tensor> sources{host_.inputs, host_.mask, host_.targets, host_.weights};
    std::vector<Tensor> targets{device.inputs, device.mask, device.targets, device.weights};
    if (host_.tracks.defined()) {
        sources.push_back(host_.tracks);
        targets.push_back(device.tracks);
    }
    uploader_.upload(sources, targets);
}

double BatchStaging::fill(const BatchSource& source, const std::vector<int64_t>& indices) {
    if (static_cast<int64_t>(indices.size()) > batch_)
        throw Error("BatchStaging: " + std::to_string(indices.size()) + " items for a batch of " +
                    std::to_string(batch_));
    if (source.steps() != steps_)
        throw Error("BatchStaging: the data has " + std::to_string(source.steps()) + " steps, the batch " +
                    std::to_string(steps_));
    LstmBatch& device = device_batch();
    for (Tensor* t : {&host_.inputs, &host_.mask, &host_.targets, &host_.weights}) std::memset(t->raw(), 0, t->nbytes());
    const bool tracks = host_.tracks.defined();
    if (tracks) std::memset(host_.tracks.raw(), 0xFF, host_.tracks.nbytes());  // every i32 -1: no row
    const double weight_sum =
        source.fill(indices, batch_, host_.inputs.data<float>(), host_.mask.data<float>(), host_.targets.data<float>(),
                    host_.weights.data<float>(), tracks ? host_.tracks.data<int32_t>() : nullptr);
    upload(device);
    return weight_sum;
}

HostBatch BatchStaging::make_host_batch() const {
    HostBatch out;
    out.inputs.assign(static_cast<size_t>(host_.inputs.numel()), 0.0f);
    out.mask.assign(static_cast<size_t>(host_.mask.numel()), 0.0f);
    out.targets.assign(static_cast<size_t>(host_.targets.numel()), 0.0f);
    out.weights.assign(static_cast<size_t>(host_.weights.numel()), 0.0f);
    if (host_.tracks.defined()) out.tracks.assign(static_cast<size_t>(host_.tracks.numel()), -1);
    return out;
}

double BatchStaging::load(const HostBatch& batch) {
    LstmBatch& device = device_batch();
    const std::pair<Tensor*, const std::vector<float>*> parts[] = {
        {&host_.inputs, &batch.inputs}, {&host_.mask, &batch.mask}, {&host_.targets, &batch.targets}, {&host_.weights, &batch.weights}};
    // A host batch may be wider than this staging: its first values hold a
    // batch of this width (BatchPrefetcher with a width per batch).
    for (const auto& [to, from] : parts) {
        if (static_cast<size_t>(to->numel()) > from->size())
            throw Error("BatchStaging: a host batch of " + std::to_string(from->size()) + " values for " + to->describe());
        std::memcpy(to->raw(), from->data(), static_cast<size_t>(to->numel()) * sizeof(float));
    }
    if (host_.tracks.defined() != !batch.tracks.empty() ||
        (host_.tracks.defined() && static_cast<size_t>(host_.tracks.numel()) > batch.tracks.size()))
        throw Error("BatchStaging: a host batch whose track rows do not fit the network's");
    if (host_.tracks.defined())
        std::memcpy(host_.tracks.raw(), batch.tracks.data(), static_cast<size_t>(host_.tracks.numel()) * sizeof(int32_t));
    upload(device);
    return batch.weight_sum;
}

void HostBatch::fill(const BatchSource& source, const std::vector<int64_t>& indices, int64_t batch) {
    for (auto* v : {&inputs, &mask, &targets, &weights}) std::fill(v->begin(), v->end(), 0.0f);
    std::fill(tracks.begin(), tracks.end(), -1);  // no row
    weight_sum = source.fill(indices, batch, inputs.data(), mask.data(), targets.data(), weights.data(),
                             tracks.empty() ? nullptr : tracks.data());
}

}  // namespace skipper::lstm
