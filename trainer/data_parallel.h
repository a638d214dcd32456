// Data-parallel training over the ranks of an MPI job (engine/collective.h),
// as the learners see it: which part of a batch or of a dataset is this rank's,
// and the one place where an LSTM step's gradients are combined across ranks.
// With one process every function here is the identity.
//
// Two ways to hold the data: the streamed session rows are read in shares
// (input_share: each rank reads its part of the files or of the sessions, and
// the bin edges are agreed over the ranks); the in-memory path reads every
// file on every rank (the check below refuses a job whose ranks read different
// data) and splits the work.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "trainer/data/dataset.h"
#include "trainer/data/hash_index.h"
#include "trainer/data/track_store.h"
#include "trainer/gbdt/binned_dataset.h"
#include "trainer/lstm/batch.h"

namespace skipper::data {
class BinSample;
}

namespace skipper {

// Items [begin, end) of `count`, cut into collective::size() contiguous parts
// whose sizes differ by at most one: this rank's part.
struct RankShare {
    int64_t begin = 0, end = 0;
    int64_t count() const { return end - begin; }
};
RankShare rank_share(int64_t count);
// The same for rows grouped in runs of equal `group` ids (a session's rows):
// the cuts move forward to the next run, so no run is split between ranks.
// An empty `group` means no grouping.
RankShare rank_share_of_runs(std::span<const int32_t> group, int64_t count);
// The largest part any rank gets: ceil(count / size()).
int64_t largest_rank_share(int64_t count);

// One training step's loss over every rank's part of the global batch.
struct GlobalLoss {
    double loss = 0.0;    // the weighted mean over the whole batch
    double weight = 0.0;  // the sum of the loss weights over the whole batch
};
// Turns this rank's gradients of its mean loss (`loss` over `weight`) into the
// gradients of the global batch's mean loss, on every rank:
//   g = sum_r (w_r / W) g_r,  W = sum_r w_r,
// summed through collective::allreduce_sum (MPI for host tensors, NCCL for
// CUDA ones). With one rank, `gradients` is left as it is.
GlobalLoss sum_gradients(Context& ctx, Tensor& gradients, double loss, double weight);

// Sums a GBDT histogram (the layout of ops::histogram_empty) over the ranks in
// place: a quantized one as 64-bit integers, exactly, so the sum is the
// one-process histogram whatever the number of ranks; a float one as f64 (equal
// up to the order of the sums).
void sum_histogram(Tensor& histogram);
// The sum of one count over the ranks.
int64_t sum_count(int64_t count);

// The sums over the ranks of several counts at once, in place (one call).
void sum_counts(std::span<int64_t> counts);
// The maxima over the ranks of the gradient extent (every rank quantizes on
// the scale of all the rows).
ops::GradientExtent max_extent(ops::GradientExtent mine);

// What this rank reads of a run's log files (sorted, as on every rank): with
// at least as many files as ranks, files k/n (data::select_files), so each
// file is read by one rank; with fewer, every file, keeping the sessions whose
// id hash falls to this rank (session_shards > 1). The rows of all the ranks
// together are the rows of one process, each exactly once.
struct InputShare {
    std::vector<std::string> logs;
    int64_t session_shard = 0, session_shards = 1;
};
InputShare input_share(const std::vector<std::string>& logs);
// Whether a session (by data::session_hash) belongs to `shard` of `shards`.
bool in_session_shard(uint64_t session_hash, int64_t shard, int64_t shards);

// The bin edges every rank bins with: each rank's sample is gathered on rank
// 0 and merged (BinSample::merge: the sample of all the rows, whichever rank
// read them), the edges are fitted there once and broadcast. With one process:
// data::fit_session_row_bins of `mine`.
std::vector<gbdt::FeatureBins> agree_session_row_bins(const data::BinSample& mine, const data::TabularDataset& schema,
                                                      int64_t max_bin);

// The spanning check of a job whose ranks read different files (the ingest
// checks each rank's own files as it scans them): each of this rank's
// sessions goes as (id hash, file) to the rank that owns the hash (hash mod
// size()), in one alltoallv of 12 bytes a session whatever the number of
// ranks, and each owner looks for a hash seen from two files. Where there is
// one, every rank agrees on the smallest such hash, and the rank that read the
// second of its files in path order (the order one process reads them in)
// throws data::spanning_session_error naming both files and the session id,
// as one process would; the others return, and its abort ends them in the
// next collective. `file_of` maps this rank's sessions (by hash) to their
// file, an index into `logs` (this rank's files); `window_bytes` bounds the
// re-read of the one file that finds the session's id and line.
void require_sessions_in_one_file(const data::HashIndex<uint32_t>& file_of,
                                  const std::vector<std::string>& logs, int64_t window_bytes);

// A session in a file that a rank read, as the hash's owner receives it.
struct SessionPlace {
    uint64_t hash = 0;
    int32_t rank = 0;
    uint32_t file = 0;  // an index into that rank's files
    auto operator<=>(const SessionPlace&) const = default;
};
// The owner's side of the check: the sessions of `places` seen from two or
// more different (rank, file), by ascending hash, each with its distinct
// places in (rank, file) order.
std::vector<std::vector<SessionPlace>> sessions_in_two_files(std::vector<SessionPlace> places);

// The report of one session in two or more files (`places`: the same on
// every rank, from sessions_in_two_files): the paths go to every rank, and the
// rank that read the second file in path order throws the error there; the
// others return.
void report_session_in_two_files(const std::vector<SessionPlace>& places, const std::vector<std::string>& logs,
                                 int64_t window_bytes);

// Rows [share.begin, share.end) of a binned set that every rank holds whole,
// keeping each row's key (the global row index when the set has none), so the
// learner can treat it as this rank's share.
gbdt::BinnedDataset take_rank_rows(const gbdt::BinnedDataset& all, const RankShare& share);

// Where each rank's items stand in the order one process holds them in: the
// LSTM's sessions when each rank reads its share of the files, so that the
// ranks together cut the one process's batches.
struct ItemPlaces {
    int64_t total = 0;             // items over every rank
    std::vector<int64_t> place;    // per item of this rank: its index in the one-process order
    std::vector<uint64_t> hashes;  // per index of that order: the item's session hash (every rank's items)
};
// From each rank's items' keys (u64s that sort the items of every rank into
// the one-process order, distinct over the ranks; a repeated key is an Error)
// and their session hashes: gathered on rank 0 (16 bytes an item), sorted
// there, and broadcast (16 bytes an item). With one process: the items'
// order by key.
ItemPlaces place_items(const std::vector<uint64_t>& keys, const std::vector<uint64_t>& hashes);
// The items `chosen` of `all` (ascending indices of its order) as an order of
// their own (the training sessions of a split); `mine` receives this rank's
// items among them (indices into this rank's items), in that order.
ItemPlaces take_places(const ItemPlaces& all, const std::vector<int64_t>& chosen, std::vector<int64_t>& mine);
// The standardiser of every rank's sessions together: each rank's sums
// (lstm::StandardiserFit) are gathered on rank 0, added in rank order (so the
// same on every run with the same number of ranks; equal to one process's up
// to the order of the double sums) and broadcast.
lstm::Standardiser fit_standardiser_over_ranks(const data::SequenceDataset& mine);

// The track table every rank of a job joins with: each rank parses its share
// of the track files' windows (data::TrackShare), the compact shares
// (features and ids, about 150 bytes a track) are gathered on rank 0 and
// broadcast, and every rank assembles the table one process reads, byte for
// byte. With one process: the table read whole.
data::TrackStore track_store_over_ranks(const std::vector<std::string>& paths, const data::ReadOptions& options,
                                        data::ReadReport* report, int64_t window_bytes);

// A fingerprint of a dataset's contents (names, features, labels).
uint64_t fingerprint(const data::TabularDataset& data);
uint64_t fingerprint(const data::SequenceDataset& data);
// Throws on every rank whose `value` differs from rank 0's, naming `what`: the
// ranks of a job must have read the same data.
void require_same_on_every_rank(uint64_t value, const std::string& what);

}  // namespace skipper
