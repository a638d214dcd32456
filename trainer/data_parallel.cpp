#include "trainer/data_parallel.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>
#include <vector>

#include "engine/collective.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/serialize.h"
#include "kernels/cpu/random.h"
#include "trainer/data/ingest.h"
#include "trainer/data/layout.h"
#include "trainer/data/session_scan.h"

namespace skipper {

RankShare rank_share(int64_t count) {
    const int64_t ranks = collective::size(), rank = collective::rank();
    const int64_t base = count / ranks, extra = count % ranks;
    const int64_t begin = rank * base + std::min(rank, extra);
    return {begin, begin + base + (rank < extra ? 1 : 0)};
}

RankShare rank_share_of_runs(std::span<const int32_t> group, int64_t count) {
    RankShare share = rank_share(count);
    if (group.empty()) return share;
    const auto cut = [&](int64_t at) {
        while (at > 0 && at < count && group[static_cast<size_t>(at)] == group[static_cast<size_t>(at - 1)]) ++at;
        return at;
    };
    return {cut(share.begin), cut(share.end)};
}

int64_t largest_rank_share(int64_t count) {
    const int64_t ranks = collective::size();
    return (count + ranks - 1) / ranks;
}

GlobalLoss sum_gradients(Context& ctx, Tensor& gradients, double loss, double weight) {
    if (collective::size() == 1) return {loss, weight};
    std::array<double, 2> sums = {loss * weight, weight};
    collective::allreduce_sum(std::span(sums));
    const double total = sums[1];
    // A rank whose part holds no weighted position contributes nothing (its
    // gradients are zero already); a batch with none anywhere leaves them at 0.
    if (total > 0.0) ops::scale(ctx, gradients, weight / total, gradients);
    collective::allreduce_sum(ctx, gradients);
    return {total > 0.0 ? sums[0] / total : 0.0, total};
}

void sum_histogram(Tensor& histogram) {
    if (collective::size() == 1) return;
    if (histogram.device() != Device::cpu) throw Error("sum_histogram: the GBDT's histograms live on the host");
    if (histogram.dtype() == DType::f64) {
        collective::allreduce_sum(std::span(histogram.data<double>(), static_cast<size_t>(histogram.numel())));
        return;
    }
    // Quantized: each bin is one 64-bit integer G * 2^32 + H; adding the
    // integers adds both fields (H stays below 2^32 by quantized_sum_bits).
    if (histogram.dtype() != DType::i32 || histogram.numel() % 2 != 0)
        throw Error("sum_histogram: not a GBDT histogram: " + histogram.describe());
    const auto bins = static_cast<size_t>(histogram.numel() / 2);
    collective::allreduce_sum(std::span(static_cast<int64_t*>(histogram.raw()), bins));
}

int64_t sum_count(int64_t count) {
    collective::allreduce_sum(std::span(&count, 1));
    return count;
}

void sum_counts(std::span<int64_t> counts) {
    if (collective::size() > 1) collective::allreduce_sum(counts);
}

ops::GradientExtent max_extent(ops::GradientExtent mine) {
    if (collective::size() == 1) return mine;
    std::array<double, 2> extent = {mine.max_abs_gradient, mine.max_hessian};
    collective::allreduce_max(std::span(extent));
    return {extent[0], extent[1]};
}

InputShare input_share(const std::vector<std::string>& logs) {
    const int64_t ranks = collective::size(), rank = collective::rank();
    if (ranks == 1) return {logs, 0, 1};
    if (static_cast<int64_t>(logs.size()) >= ranks)
        return {data::select_files(logs, std::to_string(rank) + "/" + std::to_string(ranks)), 0, 1};
    return {logs, rank, ranks};
}

bool in_session_shard(uint64_t session_hash, int64_t shard, int64_t shards) {
    // Salted apart from sample_sessions= and the train/test split (which use
    // unit_interval of the same hash), so a rank's share is not biased by them.
    return static_cast<int64_t>(counter_hash(session_hash, 0x5a4d5348415244ull) % static_cast<uint64_t>(shards)) == shard;
}

namespace {

// Byte packing of what the ranks exchange: plain values and vectors of them,
// in the order they are written. Every rank runs the same binary, so the
// layout needs no versioning; the reader still checks its bounds.
class Packer {
public:
    template <class T> void put(const T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        const auto* p = reinterpret_cast<const uint8_t*>(&value);
        bytes.insert(bytes.end(), p, p + sizeof(T));
    }
    template <class T> void put_vector(const std::vector<T>& values) {
        put<uint64_t>(values.size());
        const auto* p = reinterpret_cast<const uint8_t*>(values.data());
        bytes.insert(bytes.end(), p, p + values.size() * sizeof(T));
    }
    void put_string(const std::string& text) {
        put<uint64_t>(text.size());
        bytes.insert(bytes.end(), text.begin(), text.end());
    }
    std::vector<uint8_t> bytes;
};

class Unpacker {
public:
    explicit Unpacker(std::span<const uint8_t> bytes) : bytes_(bytes) {}
    template <class T> T get() {
        T value;
        std::memcpy(&value, take(sizeof(T)), sizeof(T));
        return value;
    }
    template <class T> std::vector<T> get_vector() {
        const auto count = static_cast<size_t>(get<uint64_t>());
        std::vector<T> values(count);
        if (count > 0) std::memcpy(values.data(), take(count * sizeof(T)), count * sizeof(T));
        return values;
    }
    std::string get_string() {
        const auto count = static_cast<size_t>(get<uint64_t>());
        const uint8_t* p = take(count);
        return {reinterpret_cast<const char*>(p), count};
    }
    bool done() const { return at_ == bytes_.size(); }

private:
    const uint8_t* take(size_t count) {
        if (count > bytes_.size() - at_) throw Error("data_parallel: a message from another rank is cut short");
        const uint8_t* p = bytes_.data() + at_;
        at_ += count;
        return p;
    }
    std::span<const uint8_t> bytes_;
    size_t at_ = 0;
};

std::vector<uint8_t> pack_sample(const data::BinSample& sample) {
    Packer out;
    out.put<int64_t>(sample.width());
    out.put<uint64_t>(sample.sessions().size());
    for (const auto& [key, rows] : sample.sessions()) {
        out.put<uint64_t>(key.first);
        out.put_string(key.second);
        out.put_vector(rows);
    }
    return std::move(out.bytes);
}

void merge_packed_sample(data::BinSample& into, std::span<const uint8_t> bytes) {
    Unpacker in(bytes);
    const auto width = in.get<int64_t>();
    const auto sessions = in.get<uint64_t>();
    for (uint64_t s = 0; s < sessions; ++s) {
        const auto hash = in.get<uint64_t>();
        const std::string id = in.get_string();
        into.add(hash, id, in.get_vector<float>(), width);
    }
    if (!in.done()) throw Error("data_parallel: a bin sample from another rank has trailing bytes");
}

std::vector<uint8_t> pack_bins(const std::vector<gbdt::FeatureBins>& bins) {
    Packer out;
    out.put<uint64_t>(bins.size());
    for (const auto& b : bins) {
        out.put<uint8_t>(b.categorical ? 1 : 0);
        out.put_vector(b.upper_bounds);
        out.put_vector(b.bin_category);
        out.put_vector(b.category_bin);
    }
    return std::move(out.bytes);
}

std::vector<gbdt::FeatureBins> unpack_bins(std::span<const uint8_t> bytes) {
    Unpacker in(bytes);
    std::vector<gbdt::FeatureBins> bins(static_cast<size_t>(in.get<uint64_t>()));
    for (auto& b : bins) {
        b.categorical = in.get<uint8_t>() != 0;
        b.upper_bounds = in.get_vector<double>();
        b.bin_category = in.get_vector<int32_t>();
        b.category_bin = in.get_vector<int32_t>();
    }
    if (!in.done()) throw Error("data_parallel: the bin edges from rank 0 have trailing bytes");
    return bins;
}

uint64_t mix(uint64_t hash, const void* data, size_t bytes) {
    return fnv1a64(static_cast<const uint8_t*>(data), bytes, hash);
}

uint64_t mix(uint64_t hash, const Tensor& t) {
    if (!t.defined()) return mix(hash, nullptr, 0);
    const Tensor host = t.device() == Device::cpu ? t : t.to(Device::cpu);
    return mix(hash, host.raw(), host.nbytes());
}

uint64_t mix(uint64_t hash, const std::vector<std::string>& names) {
    for (const auto& name : names) hash = mix(hash, name.data(), name.size() + 1);
    return hash;
}

}  // namespace

std::vector<gbdt::FeatureBins> agree_session_row_bins(const data::BinSample& mine, const data::TabularDataset& schema,
                                                      int64_t max_bin) {
    if (collective::size() == 1) return data::fit_session_row_bins(mine, schema, max_bin);
    const std::vector<std::vector<uint8_t>> samples = collective::gather(pack_sample(mine));
    std::vector<uint8_t> edges;
    if (collective::is_root()) {
        // Rank 0's own sample is `mine`; the merge keeps the smallest keys of all.
        data::BinSample all = mine;
        for (size_t r = 1; r < samples.size(); ++r) merge_packed_sample(all, samples[r]);
        edges = pack_bins(data::fit_session_row_bins(all, schema, max_bin));
    }
    collective::broadcast(edges);
    return unpack_bins(edges);
}

namespace {

// A session on the wire of the spanning check: its hash and its file.
constexpr size_t kPlaceBytes = sizeof(uint64_t) + sizeof(uint32_t);

// Every rank's `bytes`, in rank order, on every rank (an allgather of byte
// strings of any length: the same block to each rank).
std::vector<std::vector<uint8_t>> share_with_every_rank(const std::vector<uint8_t>& bytes) {
    const int ranks = collective::size();
    collective::RankBlocks send;
    send.offsets.push_back(0);
    for (int r = 0; r < ranks; ++r) {
        send.bytes.insert(send.bytes.end(), bytes.begin(), bytes.end());
        send.offsets.push_back(static_cast<int64_t>(send.bytes.size()));
    }
    const collective::RankBlocks received = collective::alltoallv(send);
    std::vector<std::vector<uint8_t>> out;
    for (int r = 0; r < ranks; ++r) out.emplace_back(received.block(r).begin(), received.block(r).end());
    return out;
}

// This rank's sessions, each to the rank that owns its hash; what the owners received.
std::vector<SessionPlace> send_places_to_owners(const data::HashIndex<uint32_t>& file_of) {
    const auto ranks = static_cast<uint64_t>(collective::size());
    collective::RankBlocks send;
    send.offsets.assign(ranks + 1, 0);
    file_of.for_each([&](uint64_t hash, uint32_t) { send.offsets[hash % ranks + 1] += kPlaceBytes; });
    std::partial_sum(send.offsets.begin(), send.offsets.end(), send.offsets.begin());
    send.bytes.resize(static_cast<size_t>(send.offsets.back()));
    std::vector<int64_t> at(send.offsets.begin(), send.offsets.end() - 1);
    file_of.for_each([&](uint64_t hash, uint32_t file) {
        uint8_t* p = send.bytes.data() + at[hash % ranks];
        at[hash % ranks] += kPlaceBytes;
        std::memcpy(p, &hash, sizeof hash);
        std::memcpy(p + sizeof hash, &file, sizeof file);
    });
    const collective::RankBlocks received = collective::alltoallv(send);
    std::vector<SessionPlace> places;
    places.reserve(received.bytes.size() / kPlaceBytes);
    for (int r = 0; r < static_cast<int>(ranks); ++r) {
        const std::span<const uint8_t> block = received.block(r);
        if (block.size() % kPlaceBytes != 0) throw Error("data_parallel: a spanning-check block from another rank is cut short");
        for (size_t at_byte = 0; at_byte < block.size(); at_byte += kPlaceBytes) {
            SessionPlace place;
            place.rank = r;
            std::memcpy(&place.hash, block.data() + at_byte, sizeof place.hash);
            std::memcpy(&place.file, block.data() + at_byte + sizeof place.hash, sizeof place.file);
            places.push_back(place);
        }
    }
    return places;
}

}  // namespace

std::vector<std::vector<SessionPlace>> sessions_in_two_files(std::vector<SessionPlace> places) {
    std::sort(places.begin(), places.end());
    places.erase(std::unique(places.begin(), places.end()), places.end());
    std::vector<std::vector<SessionPlace>> out;
    for (size_t i = 0; i < places.size();) {
        size_t end = i + 1;
        while (end < places.size() && places[end].hash == places[i].hash) ++end;
        if (end - i > 1) out.emplace_back(places.begin() + static_cast<std::ptrdiff_t>(i), places.begin() + static_cast<std::ptrdiff_t>(end));
        i = end;
    }
    return out;
}

void require_sessions_in_one_file(const data::HashIndex<uint32_t>& file_of,
                                  const std::vector<std::string>& logs, int64_t window_bytes) {
    const std::vector<std::vector<SessionPlace>> spanning = sessions_in_two_files(send_places_to_owners(file_of));

    // Each owner's first finding to every rank: all take the smallest hash.
    Packer first;
    if (!spanning.empty())
        for (const SessionPlace& place : spanning.front()) {
            first.put(place.hash);
            first.put(place.rank);
            first.put(place.file);
        }
    std::vector<SessionPlace> chosen;
    for (const auto& bytes : share_with_every_rank(first.bytes)) {
        Unpacker in(bytes);
        std::vector<SessionPlace> theirs;
        while (!in.done()) {
            SessionPlace place;
            place.hash = in.get<uint64_t>();
            place.rank = in.get<int32_t>();
            place.file = in.get<uint32_t>();
            theirs.push_back(place);
        }
        if (!theirs.empty() && (chosen.empty() || theirs.front().hash < chosen.front().hash)) chosen = std::move(theirs);
    }
    if (!chosen.empty()) report_session_in_two_files(chosen, logs, window_bytes);
}

void report_session_in_two_files(const std::vector<SessionPlace>& places, const std::vector<std::string>& logs,
                                 int64_t window_bytes) {
    // Its files' paths, from the ranks that read them, in the order of `places`.
    Packer paths;
    for (const SessionPlace& place : places)
        if (place.rank == collective::rank()) paths.put_string(logs.at(place.file));
    const std::vector<std::vector<uint8_t>> blocks = share_with_every_rank(paths.bytes);
    std::vector<Unpacker> from(blocks.begin(), blocks.end());
    std::vector<std::pair<std::string, SessionPlace>> files;
    for (const SessionPlace& place : places) files.emplace_back(from.at(static_cast<size_t>(place.rank)).get_string(), place);
    std::sort(files.begin(), files.end());
    if (files.size() < 2) throw Error("report_session_in_two_files: a session in " + std::to_string(files.size()) + " file");
    const auto& [path, place] = files[1];
    if (place.rank != collective::rank()) return;
    // The second file reports, at the session's first line there.
    for (const data::ScannedSession& session : data::scan_session_file(path, 1.0, 0, window_bytes).sessions)
        if (session.hash == place.hash)
            throw data::spanning_session_error(path, session.first_line, data::session_id_at(path, session.begin),
                                               files[0].first);
    throw DataError(path, 0, "session_id",
                    "a session found in two files in the first pass is no longer in this one: the file changed while it "
                    "was being read");
}

gbdt::BinnedDataset take_rank_rows(const gbdt::BinnedDataset& all, const RankShare& share) {
    gbdt::BinnedDataset out;
    out.feature_names = all.feature_names;
    out.categorical = all.categorical;
    out.category_names = all.category_names;
    out.feature_bins = all.feature_bins;
    const int64_t width = all.num_features();
    out.bins = Tensor::empty({share.count(), width}, DType::u8);
    if (share.count() > 0)
        std::memcpy(out.bins.data<uint8_t>(), all.bins.data<uint8_t>() + share.begin * width,
                    static_cast<size_t>(share.count() * width));
    out.labels = Tensor::empty({share.count()}, DType::f32);
    std::copy_n(all.labels.data<float>() + share.begin, share.count(), out.labels.data<float>());
    const auto part = [&](const auto& column) {
        using Column = std::decay_t<decltype(column)>;
        if (column.empty()) return Column();
        return Column(column.begin() + share.begin, column.begin() + share.end);
    };
    out.session_index = part(all.session_index);
    out.position = part(all.position);
    out.row_keys.resize(static_cast<size_t>(share.count()));
    for (int64_t r = 0; r < share.count(); ++r) out.row_keys[static_cast<size_t>(r)] = all.row_key(share.begin + r);
    return out;
}

uint64_t fingerprint(const data::TabularDataset& data) {
    uint64_t hash = mix(kFnv1aOffset, data.feature_names);
    hash = mix(hash, data.features);
    return mix(hash, data.labels);
}

uint64_t fingerprint(const data::SequenceDataset& data) {
    uint64_t hash = mix(kFnv1aOffset, data.feature_names);
    hash = mix(hash, data.inputs);
    hash = mix(hash, data.labels);
    return mix(hash, data.predict_mask);
}

void require_same_on_every_rank(uint64_t value, const std::string& what) {
    std::vector<uint8_t> root(sizeof value);
    std::memcpy(root.data(), &value, sizeof value);
    collective::broadcast(root);
    uint64_t at_root = 0;
    std::memcpy(&at_root, root.data(), sizeof at_root);
    if (at_root != value)
        throw Error("rank " + std::to_string(collective::rank()) + " has different " + what +
                    " from rank 0: every rank of a job must read the same files (the same paths on every machine)");
}

ItemPlaces place_items(const std::vector<uint64_t>& keys, const std::vector<uint64_t>& hashes) {
    if (keys.size() != hashes.size())
        throw Error("place_items: " + std::to_string(keys.size()) + " keys and " + std::to_string(hashes.size()) +
                    " hashes");
    Packer mine;
    mine.put_vector(keys);
    mine.put_vector(hashes);
    const auto blocks = collective::gather(mine.bytes);
    std::vector<uint8_t> answer;
    if (collective::is_root()) {
        // (key, rank, item) of every rank's items, sorted by key: the one-process order.
        struct Item {
            uint64_t key, hash;
            int32_t rank;
            int64_t item;
        };
        std::vector<Item> all;
        std::vector<int64_t> counts;
        for (size_t r = 0; r < blocks.size(); ++r) {
            Unpacker in(blocks[r]);
            const auto rank_keys = in.get_vector<uint64_t>();
            const auto rank_hashes = in.get_vector<uint64_t>();
            counts.push_back(static_cast<int64_t>(rank_keys.size()));
            for (size_t i = 0; i < rank_keys.size(); ++i)
                all.push_back({rank_keys[i], rank_hashes[i], static_cast<int32_t>(r), static_cast<int64_t>(i)});
        }
        std::sort(all.begin(), all.end(), [](const Item& a, const Item& b) { return a.key < b.key; });
        for (size_t i = 1; i < all.size(); ++i)
            if (all[i].key == all[i - 1].key)
                throw Error("place_items: ranks " + std::to_string(all[i - 1].rank) + " and " +
                            std::to_string(all[i].rank) + " hold an item of the same key " + std::to_string(all[i].key));
        // Every rank's places, concatenated in rank order, and the hashes in the one-process order.
        std::vector<int64_t> first(counts.size() + 1, 0);
        std::partial_sum(counts.begin(), counts.end(), first.begin() + 1);
        std::vector<int64_t> places(all.size());
        std::vector<uint64_t> ordered(all.size());
        for (size_t g = 0; g < all.size(); ++g) {
            places[static_cast<size_t>(first[static_cast<size_t>(all[g].rank)] + all[g].item)] = static_cast<int64_t>(g);
            ordered[g] = all[g].hash;
        }
        Packer out;
        out.put_vector(first);
        out.put_vector(places);
        out.put_vector(ordered);
        answer = std::move(out.bytes);
    }
    collective::broadcast(answer);
    Unpacker in(answer);
    const auto first = in.get_vector<int64_t>();
    const auto places = in.get_vector<int64_t>();
    ItemPlaces result;
    result.hashes = in.get_vector<uint64_t>();
    result.total = static_cast<int64_t>(result.hashes.size());
    const auto rank = static_cast<size_t>(collective::rank());
    result.place.assign(places.begin() + first[rank], places.begin() + first[rank + 1]);
    return result;
}

ItemPlaces take_places(const ItemPlaces& all, const std::vector<int64_t>& chosen, std::vector<int64_t>& mine) {
    // Each chosen index's place among the chosen, or -1 for those not chosen.
    std::vector<int64_t> place_of(static_cast<size_t>(all.total), -1);
    ItemPlaces out;
    out.total = static_cast<int64_t>(chosen.size());
    out.hashes.reserve(chosen.size());
    for (size_t p = 0; p < chosen.size(); ++p) {
        const int64_t g = chosen[p];
        if (g < 0 || g >= all.total || (p > 0 && g <= chosen[p - 1]))
            throw Error("take_places: the chosen items must ascend within [0, " + std::to_string(all.total) + ")");
        place_of[static_cast<size_t>(g)] = static_cast<int64_t>(p);
        out.hashes.push_back(all.hashes[static_cast<size_t>(g)]);
    }
    std::vector<std::pair<int64_t, int64_t>> taken;  // (place among the chosen, this rank's item)
    for (size_t i = 0; i < all.place.size(); ++i) {
        const int64_t p = place_of[static_cast<size_t>(all.place[i])];
        if (p >= 0) taken.emplace_back(p, static_cast<int64_t>(i));
    }
    std::sort(taken.begin(), taken.end());
    mine.clear();
    for (const auto& [p, item] : taken) {
        out.place.push_back(p);
        mine.push_back(item);
    }
    return out;
}

lstm::Standardiser fit_standardiser_over_ranks(const data::SequenceDataset& mine) {
    const auto features = static_cast<size_t>(mine.num_features());
    lstm::StandardiserFit fit(features);
    if (mine.inputs.defined())
        fit.add_steps(mine.inputs.data<float>(), mine.step_mask.data<float>(), mine.sessions() * mine.max_steps());
    if (collective::size() == 1) return fit.finish();
    Packer packed;
    packed.put_vector(fit.sums());
    const auto blocks = collective::gather(packed.bytes);
    std::vector<uint8_t> answer;
    if (collective::is_root()) {
        lstm::StandardiserFit all(features);
        for (const auto& block : blocks) {
            Unpacker in(block);
            all.add_sums(in.get_vector<double>());
        }
        Packer out;
        out.put_vector(all.sums());
        answer = std::move(out.bytes);
    }
    collective::broadcast(answer);
    Unpacker in(answer);
    lstm::StandardiserFit all(features);
    all.add_sums(in.get_vector<double>());
    return all.finish();
}

data::TrackStore track_store_over_ranks(const std::vector<std::string>& paths, const data::ReadOptions& options,
                                        data::ReadReport* report, int64_t window_bytes) {
    if (collective::size() == 1) return data::TrackStore(paths, options, report, window_bytes);
    std::vector<uint8_t> mine =
        data::TrackStore(paths, options, report, window_bytes, {collective::rank(), collective::size()}).pack();
    if (report != nullptr) {
        // Each rank counted the rows of its share; the assembly counts the repeats between shares.
        std::array<int64_t, 2> counts = {report->rows_read, report->rows_skipped};
        sum_counts(counts);
        report->rows_read = counts[0];
        report->rows_skipped = counts[1];
    }
    // Each rank's share in turn from that rank to every other, added as it arrives.
    return data::TrackStore::assemble(
        collective::size(),
        [&](int64_t part) {
            std::vector<uint8_t> share = part == collective::rank() ? std::move(mine) : std::vector<uint8_t>();
            collective::broadcast(share, static_cast<int>(part));
            return share;
        },
        options, report);
}

}  // namespace skipper
