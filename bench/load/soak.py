#!/usr/bin/env python3
"""Soak test of the prediction server: a mix of valid, invalid and junk requests.

Trains a small seed-task gbdt, serves it, and runs CLIENTS threads for
DURATION seconds, each sending a random mix: valid rows and batches, GET
pages, invalid JSON, unknown fields, oversized bodies, random bytes, headers
cut short. Samples the server's RSS after a warm-up and at the end, then
stops it with SIGTERM. Goal (issue 13): no crash, RSS growth under 5%, exit 0.

    bench/load/soak.py [--skipper build/tools/skipper] [--duration 300] [--clients 8]
"""
import argparse
import collections
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROW = {"context_switch": 0, "is_paused_before_play": 1, "hist_user_behavior_is_shuffle": True,
       "hist_user_behavior_n_seekfwd": 0, "hist_user_behavior_n_seekback": 0, "released_from": 10, "premium": True,
       "session_length": 20, "session_position": 3, "hist_user_behavior_reason_start": "fwdbtn",
       "hist_user_behavior_reason_end": "fwdbtn", "hour_of_day": 18, "context_type": "editorial_playlist"}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def post(path, body, content_type="application/json"):
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


def requests(rng):
    """One random request: (name, bytes to send)."""
    kind = rng.random()
    if kind < 0.35:
        row = dict(ROW, hour_of_day=rng.randrange(24), released_from=rng.uniform(0, 60))
        return "valid_row", post("/api/v1/predict", json.dumps({"features": row}).encode())
    if kind < 0.45:
        rows = [dict(ROW, session_position=rng.randrange(1, 21)) for _ in range(rng.randrange(1, 200))]
        return "valid_batch", post("/api/v1/predict", json.dumps({"rows": rows}).encode())
    if kind < 0.55:
        path = rng.choice(["/healthz", "/api/v1/model", "/metrics", "/", "/nowhere"])
        return "get", f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    if kind < 0.62:
        return "invalid_json", post("/api/v1/predict", b'{"features": {"premium": tr')
    if kind < 0.69:
        row = dict(ROW)
        row[rng.choice(list(ROW))] = rng.choice(["noon", None, -1e300, [1], {"a": 1}, "\u00e9\u0000"])
        row["x" * rng.randrange(1, 50)] = 1
        return "bad_field", post("/api/v1/predict", json.dumps({"features": row}).encode())
    if kind < 0.74:
        return "form", post("/predict", b"premium=1&context_type=%ZZ&hour_of_day=" + b"9" * rng.randrange(400),
                            "application/x-www-form-urlencoded")
    if kind < 0.79:
        return "oversized", post("/api/v1/predict", b" " * (2 << 20))
    if kind < 0.90:
        return "junk", rng.randbytes(rng.randrange(1, 4096))
    if kind < 0.95:
        return "cut_short", b"POST /api/v1/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"fe"
    return "huge_header", b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"


def client(port, stop, seed, counts, lock):
    rng = random.Random(seed)
    while not stop.is_set():
        name, data = requests(rng)
        status = "no_answer"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(data)
                if name == "cut_short":
                    s.shutdown(socket.SHUT_WR)
                first = s.recv(64)
                m = re.match(rb"HTTP/1.1 (\d+)", first)
                status = m.group(1).decode() if m else ("closed" if not first else "garbled")
        except OSError as e:
            status = type(e).__name__
        with lock:
            counts[(name, status)] += 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skipper", default="build/tools/skipper")
    parser.add_argument("--duration", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "model.bin")
        subprocess.run([args.skipper, "train", "gbdt", "sessions=2000", f"output_model={model}"], check=True,
                       capture_output=True)
        server = subprocess.Popen([args.skipper, "serve", f"model={model}", "port=0", "threads=2",
                                   "header_timeout=2", "body_timeout=2"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = server.stdout.readline()
        port = int(re.search(r"http://[0-9.]+:(\d+)", line).group(1))
        counts, lock, stop = collections.Counter(), threading.Lock(), threading.Event()
        threads = [threading.Thread(target=client, args=(port, stop, seed, counts, lock)) for seed in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(args.warmup)
        rss_start = rss_kib(server.pid)
        samples = [rss_start]
        end = time.monotonic() + args.duration
        while time.monotonic() < end and server.poll() is None:
            time.sleep(min(10.0, max(0.0, end - time.monotonic())))
            if server.poll() is None:
                samples.append(rss_kib(server.pid))
        stop.set()
        for t in threads:
            t.join()
        crashed = server.poll() is not None
        rss_end = samples[-1]
        if not crashed:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
        else:
            code = server.returncode
        total = sum(counts.values())
        print(f"{total} requests in {args.duration:.0f} s (+{args.warmup:.0f} s warm-up) from {args.clients} clients")
        for (name, status), n in sorted(counts.items()):
            print(f"  {name:12s} {status:18s} {n}")
        growth = 100.0 * (rss_end - rss_start) / rss_start
        print(f"RSS after warm-up {rss_start} KiB, at the end {rss_end} KiB ({growth:+.2f}%), max {max(samples)} KiB; "
              f"samples every 10 s: {' '.join(str(s) for s in samples)}")
        print(f"server: {'CRASHED' if crashed else 'alive'}; exit code after SIGTERM {code}")
        met = not crashed and code == 0 and growth < 5.0
        print("goal (no crash, RSS growth < 5%, exit 0): " + ("met" if met else "missed"))
        return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
