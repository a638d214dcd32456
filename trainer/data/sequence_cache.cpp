#include "trainer/data/sequence_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "engine/error.h"

namespace skipper::data {

namespace {

using nlohmann::json;

constexpr int kSequenceFormat = 1;
const char* const kParts[2] = {"train", "test"};

// A per-step tensor member, [sessions, steps, width] of `dtype`.
SequenceField tensor_field(const char* name, Tensor SequenceDataset::*member, int64_t steps, int64_t width,
                           DType dtype = DType::f32) {
    const auto per_session = static_cast<size_t>(steps * width) * dtype_size(dtype);
    return {name, per_session,
            [member, per_session](const SequenceDataset& data, int64_t s) {
                return static_cast<const uint8_t*>((data.*member).raw()) + static_cast<size_t>(s) * per_session;
            },
            [member, steps, width, dtype](SequenceDataset& data, const uint8_t* bytes, int64_t sessions,
                                   const std::shared_ptr<const void>& owner) {
                const Shape shape = width == 1 ? Shape{sessions, steps} : Shape{sessions, steps, width};
                data.*member = Tensor::view_host(const_cast<uint8_t*>(bytes), shape, dtype, owner);
            }};
}

// A per-session vector member, copied on load (a few bytes per session).
template <class T>
SequenceField vector_field(const char* name, std::vector<T> SequenceDataset::*member) {
    return {name, sizeof(T),
            [member](const SequenceDataset& data, int64_t s) {
                return reinterpret_cast<const uint8_t*>((data.*member).data() + s);
            },
            [member](SequenceDataset& data, const uint8_t* bytes, int64_t sessions, const std::shared_ptr<const void>&) {
                auto& v = data.*member;
                v.resize(static_cast<size_t>(sessions));
                if (sessions > 0) std::memcpy(v.data(), bytes, v.size() * sizeof(T));
            }};
}

// Keeps at most about `limit` bytes of the mapped sequences resident: after
// that many bytes read, every sequence section's pages are dropped.
struct PageBudget {
    std::vector<std::pair<const uint8_t*, size_t>> spans;
    size_t limit = 0;
    std::atomic<size_t> since{0};

    void read(size_t bytes) {
        if (since.fetch_add(bytes) + bytes < limit) return;
        since = 0;
        for (const auto& [data, size] : spans) release_mapped_pages(data, size);
    }
};


}  // namespace

std::vector<SequenceField> sequence_fields(int64_t max_steps, int64_t features) {
    return {tensor_field("inputs", &SequenceDataset::inputs, max_steps, features),
            tensor_field("labels", &SequenceDataset::labels, max_steps, 1),
            tensor_field("step_mask", &SequenceDataset::step_mask, max_steps, 1),
            tensor_field("history_mask", &SequenceDataset::history_mask, max_steps, 1),
            tensor_field("predict_mask", &SequenceDataset::predict_mask, max_steps, 1),
            tensor_field("track_hash", &SequenceDataset::track_hash, max_steps, 1, DType::i32),
            vector_field("lengths", &SequenceDataset::lengths),
            vector_field("session_hash", &SequenceDataset::session_hash)};
}

// An append-only file beside the cache, buffered, removed when done with.
struct SequenceCacheWriter::Spill {
    std::string path;
    int fd = -1;
    uint64_t bytes = 0;
    std::vector<uint8_t> buffer;

    explicit Spill(std::string p) : path(std::move(p)) {
        fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) throw DataError(path, 0, "", std::string("cannot create a spill file: ") + std::strerror(errno));
        buffer.reserve(size_t{1} << 20);
    }
    ~Spill() {
        if (fd >= 0) ::close(fd);
        ::unlink(path.c_str());
    }
    Spill(const Spill&) = delete;
    Spill& operator=(const Spill&) = delete;

    void append(const uint8_t* data, size_t n) {
        if (buffer.size() + n > buffer.capacity()) flush();
        if (n > buffer.capacity()) return write_all(data, n);
        buffer.insert(buffer.end(), data, data + n);
    }
    void flush() {
        write_all(buffer.data(), buffer.size());
        buffer.clear();
    }
    void write_all(const uint8_t* data, size_t n) {
        while (n > 0) {
            const ssize_t w = ::write(fd, data, n);
            if (w <= 0) throw DataError(path, 0, "", std::string("write failed: ") + std::strerror(errno));
            data += w;
            n -= static_cast<size_t>(w);
            bytes += static_cast<uint64_t>(w);
        }
    }
};

SequenceCacheWriter::SequenceCacheWriter(std::string cache_path, int64_t max_steps)
    : cache_path_(std::move(cache_path)), max_steps_(max_steps) {}

SequenceCacheWriter::~SequenceCacheWriter() = default;

void SequenceCacheWriter::open_spills(int64_t features) {
    fields_ = sequence_fields(max_steps_, features);
    fit_ = std::make_unique<lstm::StandardiserFit>(static_cast<size_t>(features));
    for (const char* part : kParts)
        for (const auto& field : fields_)
            spills_.push_back(std::make_unique<Spill>(cache_path_ + ".seq." + part + "." + field.name + ".tmp." +
                                                      std::to_string(::getpid())));
}

void SequenceCacheWriter::add_window(const MssdData& data, const TrackStandardiser& standardiser,
                                     const std::vector<uint64_t>& hashes, const std::vector<uint8_t>& held_out) {
    const SequenceDataset placed = build_session_sequences(data, max_steps_, &standardiser);
    const int64_t sessions = placed.sessions();
    if (static_cast<size_t>(sessions) != held_out.size() || placed.session_hash != hashes)
        throw Error("SequenceCacheWriter: " + std::to_string(held_out.size()) + " sessions split for " +
                    std::to_string(sessions) + " built");
    // The one-hot columns follow the documented category lists (mssd.cpp), so
    // every window has the same columns unless a value outside them appears.
    if (names_.empty()) {
        names_ = placed.feature_names;
        open_spills(static_cast<int64_t>(names_.size()));
    } else if (placed.feature_names != names_) {
        throw DataError(data.log.source, 0, "",
                        "a categorical column holds a value outside its documented set (reason_start, " +
                            std::string(kLeakingColumn) + " or context_type); the sequences' columns must be the same in every file");
    }
    const int64_t width = static_cast<int64_t>(names_.size());
    const float* out = placed.inputs.data<float>();
    const float* step_mask = placed.step_mask.data<float>();
    for (int64_t s = 0; s < sessions; ++s) {
        const int part = held_out[static_cast<size_t>(s)] != 0 ? 1 : 0;
        ++sessions_[part];
        for (size_t f = 0; f < fields_.size(); ++f)
            spills_[static_cast<size_t>(part) * fields_.size() + f]->append(fields_[f].session_bytes(placed, s),
                                                                            fields_[f].bytes_per_session);
        // In session order, as fit_standardiser goes over the training part in memory.
        if (part == 0) fit_->add_steps(out + s * max_steps_ * width, step_mask + s * max_steps_, max_steps_);
    }
}

void SequenceCacheWriter::finish(DatasetCache& cache) {
    if (names_.empty()) throw Error("SequenceCacheWriter: no file's sequences were added");
    json fields = json::array();
    for (const auto& field : fields_) fields.push_back({{"name", field.name}, {"bytes_per_session", field.bytes_per_session}});
    for (int p = 0; p < 2; ++p)
        for (size_t f = 0; f < fields_.size(); ++f) {
            Spill& spill = *spills_[static_cast<size_t>(p) * fields_.size() + f];
            spill.flush();
            cache.extra.push_back({std::string("seq.") + kParts[p] + "." + fields_[f].name, spill.path, nullptr, spill.bytes});
        }
    const lstm::Standardiser standardiser = fit_->finish();
    json extra = cache.extra_meta == "null" ? json::object() : json::parse(cache.extra_meta);
    extra["sequences"] = {{"format", kSequenceFormat},
                          {"max_steps", max_steps_},
                          {"feature_names", names_},
                          {"sessions", {sessions_[0], sessions_[1]}},
                          {"fields", fields},
                          {"mean", standardiser.mean},
                          {"scale", standardiser.scale}};
    cache.extra_meta = extra.dump();
}

SequenceCache load_sequence_cache(const DatasetCache& cache, const std::string& path, size_t resident_bytes) {
    const auto fail = [&](const std::string& what) {
        return DataError(path, 0, "", what + " (write it again with skipper prepare)");
    };
    json meta;
    try {
        const json extra = json::parse(cache.extra_meta);
        if (!extra.is_object() || !extra.contains("sequences"))
            throw fail("this dataset cache holds no LSTM sequences (it was prepared before they were added)");
        meta = extra.at("sequences");
        if (meta.at("format").get<int>() != kSequenceFormat)
            throw fail("its sequences are in format " + meta.at("format").dump() + ", this build reads " +
                       std::to_string(kSequenceFormat));
    } catch (const json::exception& e) {
        throw fail(std::string("its sequence metadata is malformed: ") + e.what());
    }
    SequenceCache out;
    int64_t steps = 0, sessions[2] = {0, 0};
    std::vector<std::string> names;
    try {
        steps = meta.at("max_steps").get<int64_t>();
        names = meta.at("feature_names").get<std::vector<std::string>>();
        sessions[0] = meta.at("sessions").at(0).get<int64_t>();
        sessions[1] = meta.at("sessions").at(1).get<int64_t>();
        out.standardiser.mean = meta.at("mean").get<std::vector<double>>();
        out.standardiser.scale = meta.at("scale").get<std::vector<double>>();
    } catch (const json::exception& e) {
        throw fail(std::string("its sequence metadata is malformed: ") + e.what());
    }
    if (steps < 1 || steps > 4096 || names.empty() || names.size() > 100000)
        throw fail("its sequences declare " + std::to_string(steps) + " steps of " + std::to_string(names.size()) + " features");
    if (out.standardiser.mean.size() != names.size() || out.standardiser.scale.size() != names.size())
        throw fail("its standardisation does not have one mean and scale per feature");
    for (double scale : out.standardiser.scale)
        if (!(scale > 0.0) || !std::isfinite(scale)) throw fail("its standardisation holds a scale that is not positive");
    const auto fields = sequence_fields(steps, static_cast<int64_t>(names.size()));
    if (meta.at("fields").size() != fields.size()) throw fail("its sequence fields differ from this build's");
    for (size_t f = 0; f < fields.size(); ++f)
        if (meta.at("fields").at(f).value("name", "") != fields[f].name ||
            meta.at("fields").at(f).value("bytes_per_session", size_t{0}) != fields[f].bytes_per_session)
            throw fail("its sequence field " + std::to_string(f) + " differs from this build's '" + fields[f].name + "'");

    auto budget = std::make_shared<PageBudget>();
    budget->limit = resident_bytes;
    SequenceDataset* parts[2] = {&out.train, &out.test};
    for (int p = 0; p < 2; ++p) {
        SequenceDataset& part = *parts[p];
        part.feature_names = names;
        for (const auto& field : fields) {
            const std::string name = std::string("seq.") + kParts[p] + "." + field.name;
            const auto it = std::find_if(cache.extra.begin(), cache.extra.end(), [&](const CacheSection& s) { return s.name == name; });
            if (it == cache.extra.end()) throw fail("section '" + name + "' is missing");
            if (sessions[p] < 0 || it->bytes / field.bytes_per_session != static_cast<uint64_t>(sessions[p]) ||
                it->bytes % field.bytes_per_session != 0)
                throw fail("section '" + name + "' holds " + std::to_string(it->bytes) + " bytes, not " +
                           std::to_string(sessions[p]) + " sessions of " + std::to_string(field.bytes_per_session));
            field.attach(part, it->data, sessions[p], cache.mapping);
            budget->spans.emplace_back(it->data, it->bytes);
        }
        for (int32_t length : part.lengths)
            if (length < 1 || length > steps) throw fail(std::string("a session of the ") + kParts[p] + " part has length " + std::to_string(length));
        part.read_bytes = [budget](size_t bytes) { budget->read(bytes); };
    }
    return out;
}

}  // namespace skipper::data
