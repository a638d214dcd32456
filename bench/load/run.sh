#!/usr/bin/env bash
# Bounded load test of the prediction server on loopback: trains a seed-task
# gbdt (the original settings), serves it, and runs wrk with 32 connections
# for 10 s of single-row predictions.
#   usage: bench/load/run.sh [BUILD_DIR] [DURATION] [CONNECTIONS]
set -euo pipefail
build=${1:-build}
duration=${2:-10s}
connections=${3:-32}
here=$(cd "$(dirname "$0")" && pwd)
skipper="$build/tools/skipper"
work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$skipper" train gbdt sessions=5000 learning_rate=0.09 max_depth=5 output_model="$work/model.bin" >/dev/null 2>&1
"$skipper" serve model="$work/model.bin" port=0 threads=64 >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "http://" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o "http://[0-9.:]*" "$work/serve.log" | head -1)
[[ -n "$url" ]] || { echo "the server did not start:"; cat "$work/serve.log"; exit 1; }
echo "$("$skipper" version); serving on $url; wrk -t2 -c$connections -d$duration"
wrk -t2 -c"$connections" -d"$duration" --latency -s "$here/predict.lua" "$url/api/v1/predict"
