#!/usr/bin/env bash
# The one prepared GPU run (issues 6 and 16), for a machine with one H100 or H200,
# 16 cores, CUDA 13, CMake, ninja and python3 with PyTorch, and no network.
# From the repository root:
#   bench/gpu/check.sh
# (if the machine lacks Skipper's CPU-side build dependencies, first run
# bench/gpu/fetch_deps.sh on a machine with apt, and carry .gpu-deps along).
#
# With SKIPPER_GPU_CHECK_BUILD_ONLY=1 it stops after the build (for a machine
# without a GPU).
# 1. Builds the CUDA tests and the GPU benchmark for sm_90 (Release) in
#    build-gpu-check/.
# 2. Runs the CUDA test suites (and the CPU-side checks of the CUDA code)
#    through CTest, with their output.
# 3. compute-sanitizer: memcheck and racecheck over the kernels (the LSTM
#    cell, loss, Adam, sum_rows, the persistent kernel, the graph and upload).
# 4. Benchmarks Skipper's Bi-LSTM training (sequences/s, time per recurrent
#    step, the standard and the persistent small-H recurrence) and PyTorch
#    nn.LSTM on cuDNN at the same shapes, FP32 and TF32, and the card's sgemm
#    rate (the FLOP/s ceiling); then `skipper bench device=cuda learner=lstm`.
# 5. Prints the side-by-side table last.
# Logs (build, tests, both benchmarks' JSON, the table) go to $OUT when it is
# set, else to build-gpu-check/logs. Reads the card's state; changes nothing.
# Takes about 4 to 6 minutes; every phase has its own time limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
build="$root/build-gpu-check"
logs="${OUT:-$build/logs}"
mkdir -p "$logs"
started=$SECONDS
phase() { echo "== $1 ($((SECONDS - started)) s)"; }

if [[ "${SKIPPER_GPU_CHECK_BUILD_ONLY:-0}" != 1 ]]; then
  phase "GPU"
  nvidia-smi -L | tee "$logs/gpu.txt"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu \
    --format=csv | tee -a "$logs/gpu.txt"
fi

# ---- Dependencies: the carried Debian packages, unpacked into a private prefix ----
if [[ -d "$root/.gpu-deps" ]]; then
  phase "unpacking .gpu-deps"
  deps=/tmp/skipper-gpu-deps
  rm -rf "$deps"
  mkdir -p "$deps"
  for package in "$root"/.gpu-deps/*.deb; do dpkg-deb -x "$package" "$deps"; done
  # Absolute symbolic links (libz.so -> /lib/...) would reach the system's
  # files: point them into the prefix. The .pc files name prefix=/usr: likewise.
  find "$deps" -type l | while read -r link; do
    target="$(readlink "$link")"
    if [[ "$target" == /* && -e "$deps$target" ]]; then ln -sfn "$deps$target" "$link"; fi
  done
  find "$deps" -name '*.pc' -exec sed -i "s#^prefix=/usr\$#prefix=$deps/usr#" {} +
  multiarch="$deps/usr/lib/x86_64-linux-gnu"
  export PATH="$deps/usr/bin:$PATH"
  export PKG_CONFIG_PATH="$multiarch/pkgconfig:$deps/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export CPATH="$deps/usr/include:$deps/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$multiarch:$multiarch/openblas-openmp${LIBRARY_PATH:+:$LIBRARY_PATH}"
  # For the linker's search of indirect dependencies and for our programs;
  # python3 below runs with the original value, so PyTorch loads its own libraries.
  skipper_ld_path="$multiarch:$multiarch/openblas-openmp:$deps/lib/x86_64-linux-gnu"
  cmake_deps=(-DCMAKE_PREFIX_PATH="$deps/usr" -DCMAKE_LIBRARY_PATH="$multiarch/openblas-openmp"
              -DCMAKE_INCLUDE_PATH="$deps/usr/include/x86_64-linux-gnu"
              -DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf")
else
  skipper_ld_path=""
  cmake_deps=()
fi
with_deps() {
  if [[ -z "$skipper_ld_path" ]]; then "$@"; return; fi
  LD_LIBRARY_PATH="$skipper_ld_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
}

# ---- Build ----
phase "configure"
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
with_deps timeout 180 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DSKIPPER_CUDA=ON \
  -DSKIPPER_BUILD_TESTS=ON -DSKIPPER_BUILD_BENCH=ON "${cmake_deps[@]}" 2>&1 | tee "$logs/configure.log"
phase "build"
targets=(ops_cuda_test lstm_ops_cuda_test lstm_training_cuda_test lstm_cell_math_test sum_rows_plan_test blas_int_test
         context_device_test allocator_test step_graph_test lstm_persistent_test dropout_cuda_test gpu_lstm_bench
         skipper)
if ! with_deps timeout 420 ninja -C "$build" -j16 "${targets[@]}" >"$logs/build.log" 2>&1; then
  grep -E -A5 '^FAILED|error' "$logs/build.log" | head -60
  echo "build failed: see $logs/build.log"
  exit 1
fi
tail -1 "$logs/build.log"
if [[ "${SKIPPER_GPU_CHECK_BUILD_ONLY:-0}" == 1 ]]; then phase "built (SKIPPER_GPU_CHECK_BUILD_ONLY=1)"; exit 0; fi

# ---- Tests ----
phase "CUDA tests"
tests_status=0
suites='Cuda|LstmCellMath|SumRowsPlan|BlasInt|ContextDevice|StreamOrderedFreeLists|CachingAllocatorStreams'
suites+='|BatchUploader|StepGraph|LstmPersistentPlan|LstmRecurrentForward|LstmTrainingTolerance'
(cd "$build" && with_deps timeout 240 ctest -R "($suites)\." --output-on-failure -j4 \
   --output-junit "$logs/ctest.xml") 2>&1 | tee "$logs/ctest.log" || tests_status=$?

# Out-of-bounds and misaligned accesses (memcheck) and shared-memory hazards
# (racecheck: sum_rows and the loss partials reduce through shared memory, the
# persistent kernel exchanges h through distributed shared memory), which a
# value comparison can miss; f32 cases only, to stay within the time budget.
phase "compute-sanitizer memcheck and racecheck"
sanitizer_status=0
sanitizer="$(command -v compute-sanitizer || echo "$(dirname "$(command -v nvcc)")/compute-sanitizer")"
# On a gVisor machine compute-sanitizer refuses the device ("Device not
# supported"): that is status 3, not a finding (KINDS.md: it works on Firecracker).
sanitize() {  # tool log binary filter
  [[ "$sanitizer_status" == 3 ]] && return
  if ! with_deps timeout 90 "$sanitizer" --tool "$1" --error-exitcode 1 "$build/tests/$3" --gtest_filter="$4" \
      >>"$logs/$2" 2>&1; then
    if grep -q "Device not supported" "$logs/$2"; then
      echo "compute-sanitizer: device not supported on this machine's runtime"; sanitizer_status=3
    else
      echo "$1 $3: FAILED (see $2)"; sanitizer_status=1
    fi
  fi
}
if [[ -x "$sanitizer" ]]; then
  : >"$logs/memcheck.log"
  : >"$logs/racecheck.log"
  sanitize memcheck memcheck.log lstm_ops_cuda_test 'LstmCellCuda.*F32:AddBiasCuda.*F32:BceCuda.*F32:AdamCuda.MatchesCpuF32'
  sanitize memcheck memcheck.log ops_cuda_test 'ReduceCuda.SumRowsF32:ReduceCuda.SumF32'
  sanitize memcheck memcheck.log lstm_persistent_test 'LstmRecurrentForwardCuda.*'
  sanitize memcheck memcheck.log step_graph_test '*Cuda.*'
  sanitize racecheck racecheck.log ops_cuda_test 'ReduceCuda.SumRowsF32:ReduceCuda.SumF32'
  sanitize racecheck racecheck.log lstm_ops_cuda_test 'BceCuda.MatchesCpuMixedWeightsF32'
  sanitize racecheck racecheck.log lstm_persistent_test 'LstmRecurrentForwardCuda.*'
  grep -h "ERROR SUMMARY" "$logs/memcheck.log" "$logs/racecheck.log" | sort | uniq -c
else
  echo "compute-sanitizer not found: skipped" | tee "$logs/memcheck.log"
  sanitizer_status=2
fi

# ---- Benchmarks ----
# The session architecture's feature count, as the data pipeline builds it.
session_features="${SKIPPER_SESSION_FEATURES:-$(with_deps "$build/bench/gpu_lstm_bench" --print_session_features)}"
echo "session features: $session_features"
phase "Skipper GPU LSTM benchmark"
bench_status=0
with_deps timeout 200 "$build/bench/gpu_lstm_bench" --session_features="$session_features" \
  --benchmark_filter='_b1000' --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_min_time=0.2 \
  --benchmark_out="$logs/skipper_bench.json" --benchmark_out_format=json 2>&1 | tee "$logs/skipper_bench.txt" ||
  bench_status=$?
phase "PyTorch/cuDNN peer"
peer_status=0
PYTHONUNBUFFERED=1 timeout 150 python3 "$root/bench/peers/lstm_cudnn.py" --session-features "$session_features" \
  --packed --out "$logs/cudnn.json" 2>&1 | tee "$logs/cudnn.txt" || peer_status=$?

phase "skipper bench (the user-facing command)"
with_deps timeout 90 "$build/tools/skipper" bench learner=lstm device=cuda metrics_out="$logs/skipper_cli_bench.json" \
  2>&1 | tee "$logs/skipper_cli_bench.txt" || bench_status=$?

phase "summary"
python3 "$root/bench/gpu/summarize.py" "$logs/skipper_bench.json" "$logs/cudnn.json" "$tests_status" \
  "$sanitizer_status" | tee "$logs/table.txt"
phase "done"
if [[ "$tests_status" != 0 || ( "$sanitizer_status" != 0 && "$sanitizer_status" != 3 ) || "$bench_status" != 0 || "$peer_status" != 0 ]]; then exit 1; fi
