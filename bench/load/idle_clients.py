#!/usr/bin/env python3
"""Bounded test of the server against idle and slow clients, on loopback.

Opens IDLE keep-alive connections that send nothing and SLOW connections that
send a request header one byte at a time (reconnecting when the server cuts
them at its header timeout), then sends new single-row predictions for SECONDS
(each on a new connection, GAP apart) while all of those are held; the
header timeout (10 s by default) cuts slow clients along the way. The goal (issue 13):
every new request answered within 50 ms.

    bench/load/idle_clients.py --port 8080 [--idle 10000] [--slow 1000] [--seconds 15]

Prints one line per figure; exits 1 when a request failed or the slowest
took 50 ms or more.
"""
import argparse
import resource
import selectors
import socket
import statistics
import sys
import multiprocessing
import time

BODY = (b'{"features": {"context_switch": 0, "is_paused_before_play": 1, "hist_user_behavior_is_shuffle": true, '
        b'"hist_user_behavior_n_seekfwd": 0, "hist_user_behavior_n_seekback": 0, "released_from": 10, '
        b'"premium": true, "session_length": 20, "session_position": 3, '
        b'"hist_user_behavior_reason_start": "fwdbtn", "hist_user_behavior_reason_end": "fwdbtn", '
        b'"hour_of_day": 18, "context_type": "editorial_playlist"}}')
SLOW_HEADER = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 4000


def raise_open_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def open_connections(port, count):
    out = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        out.append(s)
    return out


class SlowClients(multiprocessing.Process):
    """Sends one header byte per client per tick; replaces clients the server cut.
    A process of its own, so that its sends do not delay the timed requests."""

    def __init__(self, port, count, tick):
        super().__init__(daemon=True)
        self.port, self.count, self.tick = port, count, tick
        self.stop = multiprocessing.Event()
        self.ready = multiprocessing.Event()
        self.counters = multiprocessing.Array("q", 2)  # bytes sent, reconnects

    def run(self):
        raise_open_file_limit()
        self.clients = [[s, 0] for s in open_connections(self.port, self.count)]
        self.bytes_sent = self.reconnects = 0
        self.ready.set()
        while not self.stop.is_set():
            begin = time.monotonic()
            for client in self.clients:
                s, sent = client
                try:
                    s.send(SLOW_HEADER[sent:sent + 1])
                    client[1] = (sent + 1) % len(SLOW_HEADER)
                    self.bytes_sent += 1
                except OSError:  # cut by the server's header timeout: come back, as an attacker would
                    s.close()
                    try:
                        client[0] = socket.create_connection(("127.0.0.1", self.port))
                        client[0].setblocking(False)
                    except OSError:
                        pass
                    client[1] = 0
                    self.reconnects += 1
            self.counters[0], self.counters[1] = self.bytes_sent, self.reconnects
            self.stop.wait(max(0.0, self.tick - (time.monotonic() - begin)))


def timed_request(port):
    begin = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Connection: close\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    elapsed = (time.perf_counter() - begin) * 1000.0
    return elapsed, answer.startswith(b"HTTP/1.1 200")


def still_open(sockets):
    """How many of `sockets` the server has not closed."""
    selector = selectors.DefaultSelector()
    for s in sockets:
        selector.register(s, selectors.EVENT_READ)
    closed = len(selector.select(timeout=0))  # readable means EOF (or an answer) for a silent client
    selector.close()
    return len(sockets) - closed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--slow", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=15.0, help="how long to keep sending new requests")
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between new requests")
    parser.add_argument("--tick", type=float, default=0.1, help="seconds between a slow client's bytes")
    args = parser.parse_args()
    limit = raise_open_file_limit()
    if args.idle + args.slow + 64 > limit:
        sys.exit(f"open-file limit {limit} is too low for {args.idle} idle and {args.slow} slow connections")

    begin = time.monotonic()
    idle = open_connections(args.port, args.idle)
    slow = SlowClients(args.port, args.slow, args.tick)
    slow.start()
    slow.ready.wait()
    print(f"held: {args.idle} idle keep-alive connections, {args.slow} slow clients "
          f"({time.monotonic() - begin:.1f} s to open)")
    time.sleep(1.0)  # every slow client has sent some bytes

    times, failures = [], 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(args.gap)
        try:
            elapsed, ok = timed_request(args.port)
        except OSError:
            elapsed, ok = 5000.0, False
        times.append(elapsed)
        failures += 0 if ok else 1
    slow.stop.set()
    slow.join()
    open_idle = still_open(idle)
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    print(f"new requests: {len(times)}, failed {failures}; latency p50 {statistics.median(times):.2f} ms, "
          f"p99 {p99:.2f} ms, max {times[-1]:.2f} ms")
    print(f"slow clients: {slow.counters[0]} header bytes sent, {slow.counters[1]} cut by the header timeout "
          f"and reconnected; idle connections still open: {open_idle} of {args.idle}")
    met = failures == 0 and times[-1] < 50.0
    print("goal (every new request within 50 ms): " + ("met" if met else "missed"))
    for s in idle:
        s.close()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
