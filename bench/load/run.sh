#!/usr/bin/env bash
# Bounded load test of the prediction server on loopback: trains a seed-task
# gbdt (the original settings), serves it, and runs wrk three times at 32 and
# three times at 256 connections, DURATION each, of single-row predictions.
# Prints each run and, per connection count, the median of the three runs'
# p50 and p99 and the total errors. Goal (issue 13): p99 < 2 ms at 32
# connections, zero errors.
#   usage: bench/load/run.sh [BUILD_DIR] [DURATION] [CONNECTION_COUNTS] [THREADS]
set -euo pipefail
build=${1:-build}
duration=${2:-10s}
counts=${3:-"32 256"}
threads=${4:-0}
here=$(cd "$(dirname "$0")" && pwd)
skipper="$build/tools/skipper"
work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

"$skipper" train gbdt sessions=5000 learning_rate=0.09 max_depth=5 output_model="$work/model.bin" >/dev/null 2>&1
"$skipper" serve model="$work/model.bin" port=0 threads="$threads" >"$work/serve.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "http://" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o "http://[0-9.:]*" "$work/serve.log" | head -1)
[[ -n "$url" ]] || { echo "the server did not start:"; cat "$work/serve.log"; exit 1; }
echo "$("$skipper" version); serving on $url (threads=$threads); wrk -t2 -d$duration, 3 runs per connection count"
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for c in $counts; do
    : >"$work/runs"
    for run in 1 2 3; do
        out=$(wrk -t2 -c"$c" -d"$duration" --latency -s "$here/predict.lua" "$url/api/v1/predict")
        line=$(grep '^latency:' <<<"$out")
        errors=$(grep '^errors:' <<<"$out" | sed 's/non-2xx/non_ok/' | grep -o '[0-9]\+' | awk '{ s += $1 } END { print s }')
        rate=$(grep '^requests:' <<<"$out" | grep -o '= [0-9]*' | tr -d '= ')
        echo "  c=$c run $run: $line; $rate requests/s; errors $errors"
        p50=$(sed 's/.*p50 \([0-9.]*\) ms.*/\1/' <<<"$line")
        p99=$(sed 's/.*p99 \([0-9.]*\) ms.*/\1/' <<<"$line")
        echo "$p50 $p99 $errors $rate" >>"$work/runs"
    done
    echo "c=$c: median p50 $(cut -d' ' -f1 "$work/runs" | median) ms, median p99 $(cut -d' ' -f2 "$work/runs" | median) ms," \
         "median $(cut -d' ' -f4 "$work/runs" | median) requests/s, errors $(cut -d' ' -f3 "$work/runs" | awk '{ s += $1 } END { print s }')"
done
kill -TERM "$server_pid"
wait "$server_pid" && echo "server: SIGTERM, exit 0" || echo "server: exit $? after SIGTERM"
server_pid=
