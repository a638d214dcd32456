// Data-parallel training over the ranks of an MPI job (engine/collective.h),
// as the learners see it: which part of a batch or of a dataset is this rank's,
// and the one place where an LSTM step's gradients are combined across ranks.
// With one process every function here is the identity.
//
// Every rank holds the same data (each reads the same files; the check below
// refuses a job whose ranks read different data), and splits the work.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "engine/context.h"
#include "engine/tensor.h"
#include "trainer/data/dataset.h"

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

// A fingerprint of a dataset's contents (names, features, labels).
uint64_t fingerprint(const data::TabularDataset& data);
uint64_t fingerprint(const data::SequenceDataset& data);
// Throws on every rank whose `value` differs from rank 0's, naming `what`: the
// ranks of a job must have read the same data.
void require_same_on_every_rank(uint64_t value, const std::string& what);

}  // namespace skipper
