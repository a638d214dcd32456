-- wrk script: single-row predictions against POST /api/v1/predict of a seed-task
-- model (bench/load/run.sh serves one). Prints one summary line per figure.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"features": {"context_switch": 0, "is_paused_before_play": 1, "hist_user_behavior_is_shuffle": true,
"hist_user_behavior_n_seekfwd": 0, "hist_user_behavior_n_seekback": 0, "released_from": 10, "premium": true,
"session_length": 20, "session_position": 3, "hist_user_behavior_reason_start": "fwdbtn",
"hist_user_behavior_reason_end": "fwdbtn", "hour_of_day": 18, "context_type": "editorial_playlist"}}]]

function done(summary, latency, requests)
   local seconds = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format("requests: %d in %.2f s = %.0f requests/s\n", summary.requests, seconds,
                          summary.requests / seconds))
   io.write(string.format("latency: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n",
                          latency:percentile(50) / 1000, latency:percentile(90) / 1000,
                          latency:percentile(99) / 1000, latency.max / 1000))
   io.write(string.format("errors: connect %d, read %d, write %d, non-2xx %d, timeout %d\n",
                          e.connect, e.read, e.write, e.status, e.timeout))
end
