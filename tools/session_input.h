// The session API's input in the data's own terms. A request
//   {"history": [{"track_id_clean": "t_1", "skip_1": false, ...}, ...],
//    "tracks": ["t_7", {"track_id": "new", "duration": 201.3, ...}, ...],
//    "track_features": [{"track_id": "t_1", "duration": ...}, ...]}
// holds the session's history as raw log rows (the MSSD CSV's column names
// and values; session_id, session_position and session_length may be left
// out) and the tracks to predict, by id (known to the server's track table,
// tracks= of `skipper serve`) or by their features. track_features (optional)
// gives features for tracks the table lacks.
//
// It becomes an MssdData of one session, read by the training CSV readers
// (the same parsing and checks), so the feature builders see what training
// saw. The log columns of the positions to predict (their labels included)
// are never taken from the client: they are written as neutral values that
// the builders do not read for those positions.
#pragma once

#include <string>
#include <unordered_map>

#include <nlohmann/json_fwd.hpp>

#include "trainer/data/features.h"
#include "trainer/data/mssd.h"

namespace skipper::tools {

class SessionInput {
public:
    // `tracks`: the server's track table; its statistics standardise every
    // request's track features, as the whole table's did in training.
    explicit SessionInput(data::TrackTable tracks);

    // One session from a request; a FieldError names what is wrong
    // ("history[2].skip_1", "tracks[0]", ...).
    data::MssdData session(const nlohmann::json& request) const;

    const data::TrackStandardiser& standardiser() const { return standardiser_; }
    const data::TrackTable& tracks() const { return tracks_; }

private:
    data::TrackTable tracks_;
    std::unordered_map<std::string, int64_t> row_of_id_;
    data::TrackStandardiser standardiser_;
};

}  // namespace skipper::tools
