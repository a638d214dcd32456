#include "trainer/data/generator.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>

#include "engine/error.h"
#include "engine/serialize.h"
#include "kernels/cpu/random.h"

namespace skipper::data {

namespace {

// The constants of the generative model (trainer/data/GENERATOR.md explains
// each). Calibrated so that the rates of DESIGN section 5 come out, and so
// that "repeat the last skip" scores about 0.56 AA while models that use the
// session's propensity and taste reach about 0.61-0.65.
constexpr int kTasteDims = 8;
constexpr int kGenres = 64;
constexpr double kInGenreShare = 0.7;         // tracks drawn from the session's genre
constexpr double kSessionPropensitySd = 1.8;  // u: the session's skip propensity
constexpr double kMoodSd = 2.2;               // s_p: the listener's mood, AR(1) over positions
constexpr double kMoodPersistence = 0.93;
constexpr double kTasteWeight = 2.8;          // beta: weight of <w, a_t>
constexpr double kTrackWeight = 1.1;          // weight of the track's own propensity c_t
// Position offsets b(p) for p = 1, 2 and >= 3 (the position effect).
constexpr double kPositionOffset[3] = {-0.65, 0.45, 1.02};
// Session-length mix: 20 with 0.48, 10 with 0.088, 11..19 sharing the rest.
constexpr double kLength20 = 0.48;
constexpr double kLength10 = 0.088;

// splitmix64: seeds an independent stream per (seed, purpose, index), so every
// session and track is generated the same way whatever the thread count.
uint64_t mix(uint64_t x) { return splitmix64_finalise(x + 0x9E3779B97F4A7C15ULL); }

// xoshiro256** with normal draws by Box-Muller.
class Random {
public:
    Random(uint64_t seed, uint64_t purpose, uint64_t index) {
        uint64_t x = mix(mix(seed) ^ mix(purpose * 0x632BE59BD9B4E019ULL + 1) ^ mix(index + 0x1234567ULL));
        for (auto& word : state_) word = x = mix(x);
    }
    uint64_t next() {
        const uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    bool bernoulli(double p) { return uniform() < p; }
    int64_t below(int64_t n) { return static_cast<int64_t>(uniform() * static_cast<double>(n)); }
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double u1 = 1.0 - uniform();  // (0, 1]
        const double u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        spare_ = r * std::sin(2.0 * M_PI * u2);
        has_spare_ = true;
        return r * std::cos(2.0 * M_PI * u2);
    }
    // Index drawn from cumulative weights `cdf` (ascending, last = total).
    template <class Cdf> int64_t pick(const Cdf& cdf) {
        const double x = uniform() * cdf.back();
        return std::min<int64_t>(static_cast<int64_t>(std::upper_bound(cdf.begin(), cdf.end(), x) - cdf.begin()),
                                 static_cast<int64_t>(cdf.size()) - 1);
    }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::array<uint64_t, 4> state_{};
    bool has_spare_ = false;
    double spare_ = 0.0;
};

enum Purpose : uint64_t { kGenreCentres = 1, kTrack = 2, kSessionShape = 3, kSession = 4 };

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// An id shaped like MSSD's: prefix + a random UUID.
std::string random_id(const char* prefix, Random& random) {
    static constexpr char kHex[] = "0123456789abcdef";
    const uint64_t hi = random.next(), lo = random.next();
    std::string id = prefix;
    for (int i = 0; i < 32; ++i) {
        if (i == 8 || i == 12 || i == 16 || i == 20) id += '-';
        const uint64_t word = i < 16 ? hi : lo;
        id += kHex[(word >> (4 * (15 - i % 16))) & 15];
    }
    return id;
}

// One track of the catalogue: observable features plus the two hidden
// quantities that drive skips (taste vector and own propensity).
struct TrackDraw {
    std::array<double, kTasteDims> taste{};
    double propensity = 0.0;  // c_t before standardisation
    int genre = 0;
};

// Categorical value codes in the documented value sets (see mssd.cpp).
enum ContextType : int32_t { user_collection, editorial_playlist, catalog, radio, personalized_playlist, charts };
enum ReasonStart : int32_t { rs_fwdbtn, rs_trackdone, rs_clickrow, rs_backbtn, rs_remote, rs_playbtn, rs_appload, rs_trackerror };
enum ReasonEnd : int32_t { re_fwdbtn, re_trackdone, re_endplay, re_backbtn, re_logout, re_remote };

template <size_t N> int32_t draw_category(Random& random, const std::array<double, N>& probabilities) {
    double x = random.uniform();
    for (size_t i = 0; i + 1 < N; ++i) {
        if (x < probabilities[i]) return static_cast<int32_t>(i);
        x -= probabilities[i];
    }
    return static_cast<int32_t>(N - 1);
}

int32_t draw_reason_end(Random& random, bool not_skipped) {
    if (not_skipped) {
        const double x = random.uniform();
        return x < 0.992 ? re_trackdone : x < 0.996 ? re_endplay : re_fwdbtn;
    }
    // A skipped (or cut short) track: fwdbtn, trackdone (rare), endplay, backbtn, logout, remote.
    static constexpr std::array<double, 6> kSkipped = {0.725, 0.008, 0.14, 0.11, 0.01, 0.007};
    return draw_category(random, kSkipped);
}

// reason_start follows how the previous track ended.
int32_t draw_reason_start(Random& random, int32_t previous_end) {
    switch (previous_end) {
        case re_fwdbtn: return random.bernoulli(0.95) ? rs_fwdbtn : rs_clickrow;
        case re_trackdone: return random.bernoulli(0.96) ? rs_trackdone : rs_fwdbtn;
        case re_backbtn: return random.bernoulli(0.9) ? rs_backbtn : rs_clickrow;
        case re_endplay:
            return draw_category(random, std::array<double, 8>{0.1, 0.15, 0.55, 0.02, 0.03, 0.12, 0.02, 0.01});
        case re_logout: return random.bernoulli(0.7) ? rs_appload : rs_playbtn;
        default: return random.bernoulli(0.6) ? rs_remote : rs_trackdone;
    }
}

int32_t draw_session_length(Random& random) {
    const double x = random.uniform();
    if (x < kLength20) return 20;
    if (x < kLength20 + kLength10) return 10;
    return 11 + static_cast<int32_t>(random.below(9));
}

}  // namespace

MssdData generate_mssd(const GeneratorOptions& options) { return generate_mssd(options, nullptr); }

MssdData generate_mssd(const GeneratorOptions& options, HiddenState* hidden) {
    if (options.sessions < 1) throw ParamError("sessions", "must be at least 1, got " + std::to_string(options.sessions));
    if (options.tracks < 0) throw ParamError("tracks", "must be 0 (automatic) or positive");
    const int64_t sessions = options.sessions;
    const int64_t catalogue = options.tracks > 0 ? options.tracks : std::max<int64_t>(1000, 5 * sessions);
    const uint64_t seed = options.seed;
    const auto& feature_names = track_feature_columns();
    const auto columns = static_cast<int64_t>(feature_names.size());

    // ---- The catalogue: genres, tracks, their features and hidden skip drivers ----
    std::vector<std::array<double, kTasteDims>> genre_centre(kGenres);
    {
        Random random(seed, kGenreCentres, 0);
        for (auto& centre : genre_centre)
            for (double& v : centre) v = random.normal();
    }
    std::vector<TrackDraw> draws(static_cast<size_t>(catalogue));
    Tensor all_values = Tensor::empty({catalogue, columns}, DType::f32);
    float* all = all_values.data<float>();
    std::vector<std::string> all_ids(static_cast<size_t>(catalogue));
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < catalogue; ++t) {
        Random random(seed, kTrack, static_cast<uint64_t>(t));
        TrackDraw& d = draws[t];
        all_ids[t] = random_id("t_", random);
        d.genre = static_cast<int>(random.below(kGenres));
        for (int j = 0; j < kTasteDims; ++j) d.taste[j] = 0.8 * genre_centre[d.genre][j] + 0.6 * random.normal();
        const auto& a = d.taste;
        // Popularity falls with the catalogue rank t (rank 0 most popular).
        const double rank = (static_cast<double>(t) + 0.5) / static_cast<double>(catalogue);
        const double popularity = std::clamp(100.0 - 10.0 * std::sqrt(rank) + 0.3 * random.normal(), 90.0, 100.0);
        const double duration = std::clamp(std::exp(std::log(225.0) + 0.3 * random.normal()), 30.0, 1800.0);
        const double release_year = std::max(1950.0, 2018.0 - std::floor(-6.0 * std::log(1.0 - random.uniform())));
        const double energy = sigmoid(1.2 * a[0] + 0.5 * random.normal());
        const double acousticness = sigmoid(-1.5 * a[0] - 0.5 + 0.6 * random.normal());
        const double speechiness = sigmoid(-2.6 + 0.7 * a[5] + 0.5 * random.normal());
        const double mechanism = sigmoid(0.8 * a[3] + 0.5 * random.normal());
        float* row = all + t * columns;
        int c = 0;
        row[c++] = static_cast<float>(duration);
        row[c++] = static_cast<float>(release_year);
        row[c++] = static_cast<float>(popularity);
        row[c++] = static_cast<float>(acousticness);
        row[c++] = static_cast<float>(sigmoid(0.6 * a[1] + 0.6 * random.normal()));         // beat_strength
        row[c++] = static_cast<float>(sigmoid(0.7 * a[1] + 0.7 * random.normal()));         // bounciness
        row[c++] = static_cast<float>(sigmoid(0.8 * a[1] + 0.3 + 0.5 * random.normal()));   // danceability
        row[c++] = static_cast<float>(5.0 + 8.0 * sigmoid(0.5 * a[7] + 0.5 * random.normal()));  // dyn_range_mean
        row[c++] = static_cast<float>(energy);
        row[c++] = static_cast<float>(std::clamp(0.95 + 0.04 * random.normal(), 0.5, 1.1));    // flatness
        row[c++] = static_cast<float>(sigmoid(1.5 * a[4] - 2.5 + random.normal()));          // instrumentalness
        row[c++] = static_cast<float>(random.below(12));                                     // key
        row[c++] = static_cast<float>(sigmoid(-1.8 + 0.7 * random.normal()));                // liveness
        row[c++] = static_cast<float>(std::clamp(-8.0 + 3.0 * random.normal() - 6.0 * acousticness, -40.0, 0.0));
        row[c++] = static_cast<float>(mechanism);
        row[c++] = random.bernoulli(0.65) ? 1.0f : 0.0f;                                     // mode: major
        row[c++] = static_cast<float>(std::clamp(1.0 - mechanism + 0.1 * random.normal(), 0.0, 1.0));  // organism
        row[c++] = static_cast<float>(speechiness);
        row[c++] = static_cast<float>(std::clamp(120.0 + 8.0 * a[6] + 25.0 * random.normal(), 50.0, 220.0));  // tempo
        const double signature = random.uniform();
        row[c++] = signature < 0.9 ? 4.0f : signature < 0.97 ? 3.0f : signature < 0.99 ? 5.0f : 1.0f;  // time_signature
        row[c++] = static_cast<float>(sigmoid(0.8 * a[2] + 0.5 * random.normal()));  // valence
        for (int j = 0; j < kTasteDims; ++j) row[c++] = static_cast<float>(0.3 * a[j]);  // acoustic_vector_j
        // The track's own propensity: unpopular, long and speechy tracks are skipped more, plus a hidden part.
        d.propensity = -0.6 * (popularity - 95.0) / 3.0 + 0.5 * (std::log(duration) - std::log(225.0)) / 0.3 +
                       0.4 * (speechiness - 0.08) / 0.05 + 0.5 * random.normal();
    }
    // Standardise c_t so that kTrackWeight is its standard deviation.
    {
        double mean = 0.0, squares = 0.0;
        for (const auto& d : draws) mean += d.propensity;
        mean /= static_cast<double>(catalogue);
        for (const auto& d : draws) squares += (d.propensity - mean) * (d.propensity - mean);
        const double sd = std::sqrt(squares / static_cast<double>(catalogue)) + 1e-12;
        for (auto& d : draws) d.propensity = (d.propensity - mean) / sd;
    }
    // Track choice: popularity weight 1/(rank+10)^0.9, over the catalogue and within each genre.
    std::vector<double> global_cdf(static_cast<size_t>(catalogue));
    std::vector<std::vector<int64_t>> genre_tracks(kGenres);
    std::vector<std::vector<double>> genre_cdf(kGenres);
    {
        double total = 0.0;
        for (int64_t t = 0; t < catalogue; ++t) {
            const double w = std::pow(static_cast<double>(t) + 10.0, -0.9);
            total += w;
            global_cdf[t] = total;
            auto& list = genre_tracks[draws[t].genre];
            auto& cdf = genre_cdf[draws[t].genre];
            list.push_back(t);
            cdf.push_back((cdf.empty() ? 0.0 : cdf.back()) + w);
        }
    }

    // ---- Sessions: lengths first (fixes every row's place), then rows in parallel ----
    std::vector<int64_t> first_row(static_cast<size_t>(sessions) + 1, 0);
    std::vector<int32_t> lengths(static_cast<size_t>(sessions));
    for (int64_t s = 0; s < sessions; ++s) {
        Random random(seed, kSessionShape, static_cast<uint64_t>(s));
        lengths[s] = draw_session_length(random);
        first_row[s + 1] = first_row[s] + lengths[s];
    }
    const int64_t rows = first_row[sessions];
    if (hidden != nullptr) {
        *hidden = HiddenState{};
        for (auto* column : {&hidden->session_propensity, &hidden->taste, &hidden->track_propensity, &hidden->mood,
                             &hidden->logit})
            column->resize(static_cast<size_t>(rows));
        hidden->taste_direction.resize(static_cast<size_t>(sessions * kTasteDims));
        hidden->taste_weight = kTasteWeight;
        hidden->track_weight = kTrackWeight;
        hidden->mood_sd = kMoodSd;
        hidden->mood_persistence = kMoodPersistence;
        hidden->position_offset.assign(std::begin(kPositionOffset), std::end(kPositionOffset));
    }

    SessionLog log;
    log.source = "generated";
    log.rows = rows;
    auto u8 = [&] { return Tensor::empty({rows}, DType::u8); };
    auto i32 = [&] { return Tensor::empty({rows}, DType::i32); };
    log.session = i32();
    log.session_position = i32();
    log.session_length = i32();
    log.track = i32();
    log.skip_1 = u8();
    log.skip_2 = u8();
    log.skip_3 = u8();
    log.not_skipped = u8();
    log.context_switch = u8();
    log.no_pause_before_play = u8();
    log.short_pause_before_play = u8();
    log.long_pause_before_play = u8();
    log.hist_user_behavior_n_seekfwd = i32();
    log.hist_user_behavior_n_seekback = i32();
    log.hist_user_behavior_is_shuffle = u8();
    log.hour_of_day = i32();
    log.date = i32();
    log.premium = u8();
    log.context_type = i32();
    log.hist_user_behavior_reason_start = i32();
    log.hist_user_behavior_reason_end = i32();
    log.session_ids.resize(static_cast<size_t>(sessions));
    log.context_type_names = context_type_values();
    log.reason_start_names = reason_start_values();
    log.reason_end_names = reason_end_values();

    int32_t* session_code = log.session.data<int32_t>();
    int32_t* position = log.session_position.data<int32_t>();
    int32_t* length = log.session_length.data<int32_t>();
    int32_t* track = log.track.data<int32_t>();
    uint8_t* skip_1 = log.skip_1.data<uint8_t>();
    uint8_t* skip_2 = log.skip_2.data<uint8_t>();
    uint8_t* skip_3 = log.skip_3.data<uint8_t>();
    uint8_t* not_skipped = log.not_skipped.data<uint8_t>();
    uint8_t* context_switch = log.context_switch.data<uint8_t>();
    uint8_t* no_pause = log.no_pause_before_play.data<uint8_t>();
    uint8_t* short_pause = log.short_pause_before_play.data<uint8_t>();
    uint8_t* long_pause = log.long_pause_before_play.data<uint8_t>();
    int32_t* seekfwd = log.hist_user_behavior_n_seekfwd.data<int32_t>();
    int32_t* seekback = log.hist_user_behavior_n_seekback.data<int32_t>();
    uint8_t* shuffle = log.hist_user_behavior_is_shuffle.data<uint8_t>();
    int32_t* hour = log.hour_of_day.data<int32_t>();
    int32_t* date = log.date.data<int32_t>();
    uint8_t* premium = log.premium.data<uint8_t>();
    int32_t* context = log.context_type.data<int32_t>();
    int32_t* reason_start = log.hist_user_behavior_reason_start.data<int32_t>();
    int32_t* reason_end = log.hist_user_behavior_reason_end.data<int32_t>();
    const int32_t first_date = days_from_civil(2018, 7, 15);

#pragma omp parallel for schedule(static)
    for (int64_t s = 0; s < sessions; ++s) {
        Random random(seed, kSession, static_cast<uint64_t>(s));
        log.session_ids[s] = random_id("0_", random);
        const int32_t L = lengths[s];
        // Session context.
        int32_t session_context =
            draw_category(random, std::array<double, 6>{0.37, 0.24, 0.21, 0.12, 0.04, 0.02});
        const bool session_shuffle = random.bernoulli(session_context == user_collection ? 0.45
                                                      : session_context == catalog      ? 0.3
                                                                                        : 0.15);
        const bool session_premium = random.bernoulli(0.8);
        // Hours peak in the afternoon and evening.
        const int32_t session_hour = static_cast<int32_t>(
            (static_cast<int64_t>(std::lround(17.0 + 5.0 * random.normal())) % 24 + 24) % 24);
        const int32_t session_date = first_date + static_cast<int32_t>(random.below(66));
        // Hidden drivers: propensity u, taste direction w (unit), mood s_p.
        const double u = kSessionPropensitySd * random.normal() + (session_shuffle ? 0.3 : 0.0) -
                         (session_premium ? 0.2 : 0.0) + (session_context == radio ? 0.3 : 0.0);
        std::array<double, kTasteDims> w{};
        double norm = 0.0;
        for (double& v : w) {
            v = random.normal();
            norm += v * v;
        }
        for (double& v : w) v /= std::sqrt(norm);
        if (hidden != nullptr) std::copy(w.begin(), w.end(), hidden->taste_direction.begin() + s * kTasteDims);
        const int genre = static_cast<int>(random.below(kGenres));
        double mood = kMoodSd * random.normal();
        int32_t previous_end = re_trackdone;
        for (int32_t p = 1; p <= L; ++p) {
            const int64_t i = first_row[s] + p - 1;
            if (p > 1) mood = kMoodPersistence * mood + std::sqrt(1.0 - kMoodPersistence * kMoodPersistence) * kMoodSd * random.normal();
            const bool in_genre = random.bernoulli(kInGenreShare) && !genre_tracks[genre].empty();
            const int64_t t = in_genre ? genre_tracks[genre][random.pick(genre_cdf[genre])] : random.pick(global_cdf);
            double taste = 0.0;
            for (int j = 0; j < kTasteDims; ++j) taste += w[j] * draws[t].taste[j];
            const double logit = kPositionOffset[std::min(p, 3) - 1] + u + mood + kTasteWeight * taste +
                                 kTrackWeight * draws[t].propensity;
            if (hidden != nullptr) {
                hidden->session_propensity[i] = u;
                hidden->taste[i] = taste;
                hidden->track_propensity[i] = draws[t].propensity;
                hidden->mood[i] = mood;
                hidden->logit[i] = logit;
            }
            const bool skipped_2 = random.bernoulli(sigmoid(logit));
            // Nested flags: skip_1 => skip_2 => skip_3; not_skipped is almost always !skip_3.
            const bool skipped_1 = skipped_2 && random.bernoulli(0.815);
            const bool skipped_3 = skipped_2 || random.bernoulli(0.265);
            const bool finished = !skipped_3 && random.bernoulli(0.953);
            const bool switched = p > 1 && random.bernoulli(0.03);
            if (switched) session_context = draw_category(random, std::array<double, 6>{0.37, 0.24, 0.21, 0.12, 0.04, 0.02});
            const int32_t pause = draw_category(random, p == 1 ? std::array<double, 3>{0.6, 0.1, 0.3}
                                                               : std::array<double, 3>{0.88, 0.07, 0.05});

            session_code[i] = static_cast<int32_t>(s);
            position[i] = p;
            length[i] = L;
            track[i] = static_cast<int32_t>(t);
            skip_1[i] = skipped_1;
            skip_2[i] = skipped_2;
            skip_3[i] = skipped_3;
            not_skipped[i] = finished;
            context_switch[i] = switched;
            no_pause[i] = pause == 0;
            short_pause[i] = pause == 1;
            long_pause[i] = pause == 2;
            seekfwd[i] = random.bernoulli(skipped_2 ? 0.04 : 0.1) ? 1 + static_cast<int32_t>(random.below(3)) : 0;
            seekback[i] = random.bernoulli(skipped_2 ? 0.02 : 0.05) ? 1 + static_cast<int32_t>(random.below(2)) : 0;
            shuffle[i] = session_shuffle;
            hour[i] = session_hour;
            date[i] = session_date;
            premium[i] = session_premium;
            context[i] = session_context;
            reason_start[i] = p == 1 ? draw_category(random, std::array<double, 8>{0.15, 0.25, 0.4, 0.01, 0.015, 0.1, 0.07, 0.005})
                                     : draw_reason_start(random, previous_end);
            reason_end[i] = draw_reason_end(random, finished);
            previous_end = reason_end[i];
        }
    }

    // Keep only the played tracks, numbered in order of first appearance (as
    // the reader numbers them), so the in-memory tables equal the ones read
    // back from the written files.
    std::vector<int32_t> new_code(static_cast<size_t>(catalogue), -1);
    std::vector<int64_t> played;
    for (int64_t i = 0; i < rows; ++i) {
        int32_t& code = new_code[static_cast<size_t>(track[i])];
        if (code < 0) {
            code = static_cast<int32_t>(played.size());
            played.push_back(track[i]);
        }
        track[i] = code;
    }
    MssdData data;
    data.tracks.source = "generated";
    data.tracks.track_ids.resize(played.size());
    data.tracks.values = Tensor::empty({static_cast<int64_t>(played.size()), columns}, DType::f32);
    float* values = data.tracks.values.data<float>();
    for (size_t k = 0; k < played.size(); ++k) {
        data.tracks.track_ids[k] = all_ids[static_cast<size_t>(played[k])];
        std::copy_n(all + played[k] * columns, columns, values + static_cast<int64_t>(k) * columns);
    }
    log.track_ids = data.tracks.track_ids;
    data.track_row = log.track.clone();
    data.log = std::move(log);
    return data;
}

GeneratedFiles write_generated_mssd(const GeneratorOptions& options, const std::string& out_dir) {
    std::error_code error;
    std::filesystem::create_directories(out_dir, error);
    if (error) throw DataError(out_dir, 0, "", "cannot create the output directory: " + error.message());
    const MssdData data = generate_mssd(options);
    GeneratedFiles files;
    files.log_path = (std::filesystem::path(out_dir) / "log_0.csv").string();
    files.tracks_path = (std::filesystem::path(out_dir) / "tf_0.csv").string();
    write_session_log_csv(data.log, files.log_path);
    write_track_features_csv(data.tracks, files.tracks_path);
    files.rows = data.log.rows;
    files.sessions = data.log.num_sessions();
    files.tracks = data.tracks.rows();
    return files;
}

namespace {

std::string compact_date(int32_t days) {
    // The day's YYYYMMDD, counted on from 2018-07-15 (the release's first day).
    const int32_t first = days_from_civil(2018, 7, 15);
    int year = 2018, month = 7, day = 15 + (days - first);
    static constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    while (day > kMonthDays[month - 1]) {
        day -= kMonthDays[month - 1];
        if (++month > 12) {
            month = 1;
            ++year;
        }
    }
    char text[40];
    std::snprintf(text, sizeof text, "%04d%02d%02d", year, month, day);
    return text;
}

TrackTable track_rows(const TrackTable& tracks, int64_t begin, int64_t end) {
    TrackTable out;
    out.source = tracks.source;
    out.track_ids.assign(tracks.track_ids.begin() + begin, tracks.track_ids.begin() + end);
    out.values = tracks.values.slice_rows(begin, end).clone();
    return out;
}

}  // namespace

GeneratedLayout write_generated_layout(const GeneratorOptions& options, const std::string& out_dir, int64_t files,
                                       bool test_set, double test_fraction) {
    namespace fs = std::filesystem;
    if (files < 1) throw ParamError("files", "must be at least 1");
    const fs::path root(out_dir);
    for (const char* folder : {"training_set", "track_features", "test_set", "ground_truth"}) {
        if (!test_set && (std::string(folder) == "test_set" || std::string(folder) == "ground_truth")) continue;
        std::error_code error;
        fs::create_directories(root / folder, error);
        if (error) throw DataError((root / folder).string(), 0, "", "cannot create the directory: " + error.message());
    }
    const MssdData data = generate_mssd(options);
    const int64_t sessions = data.log.num_sessions();
    const int64_t test_sessions = test_set ? std::max<int64_t>(1, std::llround(static_cast<double>(sessions) * test_fraction)) : 0;
    const int64_t train_sessions = sessions - test_sessions;
    if (train_sessions < files)
        throw ParamError("files", std::to_string(files) + " files need at least as many training sessions, have " +
                                      std::to_string(train_sessions));
    GeneratedLayout out;
    out.sessions = train_sessions;
    out.test_sessions = test_sessions;
    out.tracks = data.tracks.rows();

    // Names as in the release: ten files a day from 2018-07-15; sorted, they take the session blocks in order.
    std::vector<std::string> names;
    for (int64_t k = 0; k < files; ++k)
        names.push_back("log_" + std::to_string(k % 10) + "_" +
                        compact_date(days_from_civil(2018, 7, 15) + static_cast<int32_t>(k / 10)) + "_000000000000.csv");
    std::sort(names.begin(), names.end());
    for (int64_t k = 0; k < files; ++k) {
        std::vector<uint8_t> keep(static_cast<size_t>(sessions), 0);
        for (int64_t s = train_sessions * k / files; s < train_sessions * (k + 1) / files; ++s) keep[static_cast<size_t>(s)] = 1;
        SessionLog part = data.log;
        keep_sessions(part, keep);
        out.log_paths.push_back((root / "training_set" / names[static_cast<size_t>(k)]).string());
        write_session_log_csv(part, out.log_paths.back());
        out.rows += part.rows;
    }
    const int64_t half = data.tracks.rows() / 2;
    for (int k = 0; k < 2; ++k) {
        out.track_paths.push_back((root / "track_features" / ("tf_00000000000" + std::to_string(k) + ".csv")).string());
        write_track_features_csv(track_rows(data.tracks, k == 0 ? 0 : half, k == 0 ? half : data.tracks.rows()),
                                 out.track_paths.back());
    }
    if (!test_set) return out;

    std::vector<uint8_t> keep(static_cast<size_t>(sessions), 0);
    for (int64_t s = train_sessions; s < sessions; ++s) keep[static_cast<size_t>(s)] = 1;
    SessionLog test = data.log;
    keep_sessions(test, keep);
    out.full_sessions_path = (root / "ground_truth" / "full_sessions_000000000000.csv").string();
    write_session_log_csv(test, out.full_sessions_path);
    // Split each session's rows at floor(L/2); the log holds a session's rows in position order.
    const auto* session = test.session.data<int32_t>();
    const auto* position = test.session_position.data<int32_t>();
    const auto* length = test.session_length.data<int32_t>();
    const auto* skip_2 = test.skip_2.data<uint8_t>();
    std::vector<int64_t> history_rows;
    std::string input = "session_id,session_position,session_length,track_id_clean\n";
    std::vector<std::string> labels(test.session_ids.size());
    for (int64_t i = 0; i < test.rows; ++i) {
        if (position[i] <= length[i] / 2) {
            history_rows.push_back(i);
            continue;
        }
        input += test.session_ids[static_cast<size_t>(session[i])] + "," + std::to_string(position[i]) + "," +
                 std::to_string(length[i]) + "," + test.track_ids[static_cast<size_t>(test.track.data<int32_t>()[i])] + "\n";
        labels[static_cast<size_t>(session[i])] += skip_2[i] ? '1' : '0';
    }
    SessionLog prehistory = test;
    keep_log_rows(prehistory, history_rows);
    out.prehistory_path = (root / "test_set" / "log_prehistory_20180715_000000000000.csv").string();
    write_session_log_csv(prehistory, out.prehistory_path);
    out.input_path = (root / "test_set" / "log_input_20180715_000000000000.csv").string();
    write_file_atomically(out.input_path, input);
    std::string label_text;
    for (const auto& line : labels) label_text += line + "\n";
    out.labels_path = (root / "ground_truth" / "labels_000000000000.txt").string();
    write_file_atomically(out.labels_path, label_text);
    return out;
}

}  // namespace skipper::data
