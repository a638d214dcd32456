#!/bin/bash
# -np 1 against -np 2, one thread per rank, each rank reading its share of the
# session logs (streamed GBDT, quantized): wall, per-rank CPU and peak RSS,
# the collective traffic, and whether the two models are byte-identical.
#   bench/mpi_np.sh SKIPPER DATA_DIR [FILES] [ITERATIONS] [REPEATS]
# e.g. bench/mpi_np.sh build/tools/skipper /work/data/big10m 0-1 20 3
set -euo pipefail
skipper=$(realpath "$1")
data=$2
files=${3:-0-1}
iterations=${4:-20}
repeats=${5:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader --mca mpi_yield_when_idle 1
        -x OMP_WAIT_POLICY=passive)
args=(train gbdt task=session "data=$data" "files=$files" "num_iterations=$iterations" use_quantized_grad=true
      num_threads=1)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) cores," \
     "avx512f: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)"
for repeat in $(seq "$repeats"); do
  for ranks in 1 2; do
    echo "== -np $ranks, run $repeat, $(date -u +%FT%TZ), load average $(cut -d' ' -f1 /proc/loadavg)"
    OMP_WAIT_POLICY=passive "${mpirun[@]}" -np "$ranks" /usr/bin/time -f "rank: peak RSS %M KB, wall %e s, CPU %U+%S s" \
      "$skipper" "${args[@]}" "output_model=$out/np$ranks.bin" 2>&1 |
      grep -E "^data:|held-out scores|data-parallel|^rank:"
  done
  cmp "$out/np1.bin" "$out/np2.bin" && echo "models byte-identical"
done
