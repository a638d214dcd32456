#!/usr/bin/env bash
# Runs every fuzz target of a SKIPPER_FUZZ=ON build for a bounded time each,
# starting from its seed corpus in tests/fuzz/corpus/<target>/ (the seeds are
# copied: new inputs stay out of the repository). A crash, leak, sanitizer
# report, timeout or over-large allocation fails the run and leaves the input
# in the work folder (printed) to turn into a regression test.
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET=20] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]}
seconds=${2:-20}
shift $(($# < 2 ? $# : 2))
targets=("$@")
if ((${#targets[@]} == 0)); then
  for source in tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/skipper_fuzz.XXXXXX")
failed=()
for target in "${targets[@]}"; do
  name=${target%_fuzz}
  mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
  cp tests/fuzz/corpus/"$name"/* "$work/$name/corpus/"
  # Inputs are small files; no input may make the program allocate 64 MB at
  # once (the loaders allocate no more than the file holds) or 1 GB in all.
  if "$build/tests/fuzz/$target" "$work/$name/corpus" -max_total_time="$seconds" -max_len=16384 \
      -malloc_limit_mb=64 -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$work/$name/artifacts/" >"$work/$name/log" 2>&1; then
    echo "$target: $(grep -E '^stat::number_of_executed_units' "$work/$name/log" | awk '{print $2}') executions," \
         "$(grep -E '^stat::average_exec_per_sec' "$work/$name/log" | awk '{print $2}') exec/s, no crash"
  else
    echo "$target: FAILED; its log and crashing input are in $work/$name/"
    tail -n 40 "$work/$name/log"
    failed+=("$target")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz failures: ${failed[*]}"
  exit 1
fi
rm -rf "$work"
