#!/usr/bin/env python3
"""bench/checks.py: 1,000 HTTP checks at a 1 s interval on one agent.

Starts `tribune agent -dev` on its own loopback address, an asyncio HTTP
target that timestamps every hit per check, registers N checks (path
/c/<i>), lets them run, and reports the schedule: per-check gaps between
hits (should be 1 s), their spread, missed runs, and checkd's own counters
(runs, late_runs = runs started >100 ms after their slot, max_lag_ms).

    TRIBUNE_BUILD=build-check python3 bench/checks.py [-n 1000] [-t 30]
"""
import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BUILD = os.environ.get("TRIBUNE_BUILD", "build")
TRIBUNE = os.path.join(BUILD, "bin", "tribune")

hits = {}


class Target(asyncio.Protocol):
    def connection_made(self, tr):
        self.tr = tr
        self.buf = b""

    def data_received(self, data):
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        path = self.buf.split(b" ", 2)[1].decode()
        hits.setdefault(path, []).append(time.monotonic())
        self.tr.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                      b"Connection: close\r\n\r\nok")
        self.tr.close()


def serve(port_box, ready):
    loop = asyncio.new_event_loop()
    srv = loop.run_until_complete(loop.create_server(
        Target, "127.0.0.1", 0, backlog=4096))
    port_box.append(srv.sockets[0].getsockname()[1])
    ready.set()
    loop.run_forever()


def put(addr, path, body):
    req = urllib.request.Request("http://%s%s" % (addr, path), method="PUT",
                                 data=json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-t", type=int, default=30, help="seconds to measure")
    ap.add_argument("-ip", default="127.0.0.119")
    args = ap.parse_args()

    port_box, ready = [], threading.Event()
    threading.Thread(target=serve, args=(port_box, ready), daemon=True).start()
    ready.wait()
    data = tempfile.mkdtemp(prefix="bench-checks-")
    log = open(os.path.join(data, "agent.log"), "wb")
    agent = subprocess.Popen([TRIBUNE, "agent", "-dev", "-bind", args.ip,
                              "-client", args.ip, "-data-dir",
                              os.path.join(data, "d")],
                             stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    addr = "%s:8500" % args.ip
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                urllib.request.urlopen("http://%s/v1/agent/checks" % addr,
                                       timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        t0 = time.time()
        for i in range(args.n):
            put(addr, "/v1/agent/check/register",
                {"Name": "c%d" % i, "HTTP": "http://127.0.0.1:%d/c/%d" %
                 (port_box[0], i), "Interval": "1s", "Timeout": "1s"})
        print("registered %d checks in %.1f s" % (args.n, time.time() - t0))
        time.sleep(3)          # first runs are spread over one interval
        hits.clear()
        time.sleep(args.t)
        snap = {k: list(v) for k, v in hits.items()}
        st = subprocess.run([TRIBUNE, "debug", "status", "-json",
                             "-http-addr", addr], capture_output=True,
                            text=True)
        checkd = {}
        try:
            for c in json.loads(st.stdout)["children"]:
                if c["name"] == "checkd":
                    checkd = c.get("status", {})
        except Exception:
            pass
        gaps = []
        for v in snap.values():
            gaps += [b - a for a, b in zip(v, v[1:])]
        expected = args.n * args.t
        got = sum(len(v) for v in snap.values())
        gaps.sort()
        q = lambda p: gaps[min(len(gaps) - 1, int(p * len(gaps)))]
        print("checks hit: %d of %d; runs seen %d of ~%d expected (%.1f%%)"
              % (len(snap), args.n, got, expected, 100.0 * got / expected))
        print("gap between runs of one check (s): mean %.4f  p50 %.4f  "
              "p99 %.4f  max %.4f  min %.4f" % (statistics.mean(gaps),
                                                q(0.5), q(0.99), gaps[-1],
                                                gaps[0]))
        print("checkd: runs=%s late_runs(>100ms)=%s max_lag_ms=%s "
              "max_tick_gap_ms=%s (loop stall)" % (
                  checkd.get("runs"), checkd.get("late_runs"),
                  checkd.get("max_lag_ms"), checkd.get("max_tick_gap_ms")))
        print("load average: %.2f %.2f %.2f" % os.getloadavg())
        ps = subprocess.run(["ps", "-o", "pid,pcpu,rss,comm", "-g",
                             str(agent.pid)], capture_output=True, text=True)
        for line in ps.stdout.splitlines():
            if "checkd" in line or "PID" in line:
                print(line)
    finally:
        os.killpg(agent.pid, 15)
        agent.wait(10)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
