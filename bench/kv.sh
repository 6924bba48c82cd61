#!/usr/bin/env bash
# KV: a one-member etcd (its v3 JSON gateway) and a one-server tribune, side
# by side: PUT and GET throughput at 64 connections, single-client PUT
# latency, and tribune's RSS (all six processes).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
T=$TRIBUNE_BUILD/bin/tribune
work=$(mktemp -d)
DUR=${BENCH_SECONDS:-10}
cleanup() {
  [ -n "${tpid:-}" ] && kill "$tpid" 2>/dev/null && wait "$tpid" 2>/dev/null || true
  [ -n "${epid:-}" ] && kill "$epid" 2>/dev/null && wait "$epid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

etcd --data-dir "$work/etcd" --listen-client-urls http://127.0.0.61:2379 \
  --advertise-client-urls http://127.0.0.61:2379 \
  --listen-peer-urls http://127.0.0.61:2380 \
  --initial-advertise-peer-urls http://127.0.0.61:2380 \
  --initial-cluster default=http://127.0.0.61:2380 >"$work/etcd.log" 2>&1 &
epid=$!
"$T" agent -server -bootstrap-expect=1 -node bench -bind 127.0.0.62 -client 127.0.0.62 \
  -data-dir "$work/tribune" -log-level warn >"$work/tribune.log" 2>&1 &
tpid=$!
for i in $(seq 1 100); do
  curl -sf http://127.0.0.62:8500/v1/status/leader | grep -q 8300 && \
  curl -sf -X POST http://127.0.0.61:2379/v3/kv/range -d '{"key":"Zm9v"}' >/dev/null && break
  sleep 0.2
done
# A leader can take a moment after the first answer.
until curl -sf -X PUT http://127.0.0.62:8500/v1/kv/bench/key -d value | grep -q true; do sleep 0.2; done
curl -sf -X POST http://127.0.0.61:2379/v3/kv/put -d '{"key":"YmVuY2gva2V5","value":"dmFsdWU="}' >/dev/null

# The durable-write floor of this disk, the way each system writes its log:
# libraft (O_DIRECT|O_DSYNC 4 KiB writes) and etcd's WAL (write +
# fdatasync); 1,000 each into a preallocated file in the data directory.
cat >"$work/fsync.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
	enum { N = 1000 }; static double d[N]; void *buf; int direct = argv[2][0] == 'd';
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT | O_DSYNC : 0), 0600);
	if (fd < 0 || posix_memalign(&buf, 4096, 4096) != 0 || posix_fallocate(fd, 0, N * 4096) != 0 || fsync(fd) != 0) return 1;
	for (int i = 0; i < N; i++) {
		double t = now();
		if (pwrite(fd, buf, 4096, (off_t)i * 4096) != 4096 || (!direct && fdatasync(fd) != 0)) return 1;
		d[i] = now() - t;
	}
	qsort(d, N, sizeof(d[0]), cmp);
	printf("%.0f µs / %.0f µs\n", d[N / 2], d[N * 99 / 100]);
	unlink(argv[1]);
	return 0;
}
C
floor_direct=-; floor_fdatasync=-
if cc -O2 -o "$work/fsync" "$work/fsync.c" 2>/dev/null; then
  floor_direct=$("$work/fsync" "$work/tribune/fsync.probe" direct || echo -)
  floor_fdatasync=$("$work/fsync" "$work/tribune/fsync.probe" fdatasync || echo -)
fi

# The IPC floor: one request/reply round trip between two processes, p50 /
# p99 of 5,000, over nng req/rep on ipc:// (as httpd calls raftd) and over
# a UNIX socketpair (what the kernel alone costs).  A PUT crosses the bus
# once each way, so the nng figure adds to the disk's floor above.
cat >"$work/ipc.c" <<'C'
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
	enum { N = 5000 }; static double d[N]; char buf[64] = { 0 }, url[300]; int sv[2], nng = argv[1][0] == 'n'; pid_t pid;
	if (argc < 3 || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) return 1;
	snprintf(url, sizeof(url), "ipc://%s", argv[2]);
	if ((pid = fork()) == 0) {
		nng_socket s; nng_msg *m;
		if (!nng) { for (;;) { ssize_t n = read(sv[1], buf, sizeof(buf)); if (n <= 0 || write(sv[1], buf, (size_t)n) != n) _exit(0); } }
		if (nng_rep0_open(&s) != 0 || nng_listen(s, url, NULL, 0) != 0) _exit(1);
		(void)!write(sv[1], "", 1);
		for (;;) if (nng_recvmsg(s, &m, 0) != 0 || nng_sendmsg(s, m, 0) != 0) _exit(0);
	}
	nng_socket c; char *r; size_t sz;
	if (nng && (read(sv[0], buf, 1) != 1 || nng_req0_open(&c) != 0 || nng_dial(c, url, NULL, 0) != 0)) return 1;
	for (int i = -500; i < N; i++) {
		double t = now();
		if (nng) { if (nng_send(c, buf, 40, 0) != 0 || nng_recv(c, &r, &sz, NNG_FLAG_ALLOC) != 0) return 1; nng_free(r, sz); }
		else if (write(sv[0], buf, 40) != 40 || read(sv[0], buf, sizeof(buf)) != 40) return 1;
		if (i >= 0) d[i] = now() - t;
	}
	kill(pid, SIGKILL);
	qsort(d, N, sizeof(d[0]), cmp);
	printf("%.0f µs / %.0f µs\n", d[N / 2], d[N * 99 / 100]);
	return 0;
}
C
ipc_nng=-; ipc_unix=-
if cc -O2 -o "$work/ipc" "$work/ipc.c" -lnng -lpthread 2>/dev/null; then
  ipc_nng=$(timeout 60 "$work/ipc" nng "$work/ipc.sock" || echo -)
  ipc_unix=$(timeout 60 "$work/ipc" unix - || echo -)
fi

# wrk prints "Requests/sec:" and, with --latency, a percentile table.
rps()  { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
pct()  { awk -v p="$1" '$1==p {print $2}'; }
lat()  { wrk -t1 -c1 -d"${DUR}s" --latency -s "$here/$1" "$2" 2>&1; }
# CPU ticks (user + system) of a process and its children's threads.
ticks() { for p in "$@"; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{t+=$1} END {print t+0}'; }
tpids() { echo "$tpid" $(ps -o pid= --ppid "$tpid"); }
hz=$(getconf CLK_TCK)
# run SCRIPT URL PIDS...: wrk at 64 connections; sets out (wrk's output)
# and cpu (CPU µs the given processes spent per request).
run() {
  local s=$1 u=$2 t0 t1 n; shift 2
  t0=$(ticks "$@")
  out=$(wrk -t2 -c64 -d"${DUR}s" -s "$here/$s" "$u" 2>&1)
  t1=$(ticks "$@")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.0f", (b - a) * 1e6 / hz / n; else print "-" }')
}
load0=$(cut -d' ' -f1-3 /proc/loadavg)

run kv_put_tribune.lua http://127.0.0.62:8500 $(tpids); t_put=$(rps "$out"); t_put_cpu=$cpu
run kv_put_etcd.lua http://127.0.0.61:2379 "$epid"; e_put=$(rps "$out"); e_put_cpu=$cpu
run kv_get_tribune.lua http://127.0.0.62:8500 $(tpids); t_get=$(rps "$out"); t_get_cpu=$cpu
run kv_get_etcd.lua http://127.0.0.61:2379 "$epid"; e_get=$(rps "$out"); e_get_cpu=$cpu
tl=$(lat kv_put_tribune.lua http://127.0.0.62:8500)
el=$(lat kv_put_etcd.lua http://127.0.0.61:2379)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
rss=$(ps -o rss= --ppid "$tpid" | awk -v s="$(ps -o rss= -p "$tpid")" '{t+=$1} END {printf "%.1f", (t+s)/1024}')
erss=$(ps -o rss= -p "$epid" | awk '{printf "%.1f", $1/1024}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }'; }

cat <<MD
## KV: tribune vs etcd ($(etcd --version | head -1 | awk '{print $3}'))

One server each, on loopback, wrk with ${DUR} s runs; PUT writes random keys
under \`bench/\` with a 64-byte value; GET reads one key.

| | tribune | etcd | tribune / etcd | target |
|---|---|---|---|---|
| PUT req/s, 64 connections | $t_put | $e_put | $(ratio "$t_put" "$e_put") | ≥ 3 |
| GET req/s, 64 connections | $t_get | $e_get | $(ratio "$t_get" "$e_get") | ≥ 5 |
| PUT p50, 1 client | $(echo "$tl" | pct 50%) | $(echo "$el" | pct 50%) | | ≤ 0.3 ms |
| PUT p99, 1 client | $(echo "$tl" | pct 99%) | $(echo "$el" | pct 99%) | | |
| RSS, MiB (tribune: all 6 processes) | $rss | $erss | | |
| CPU per PUT at 64 connections (server processes, µs) | $t_put_cpu | $e_put_cpu | | |
| CPU per GET at 64 connections (server processes, µs) | $t_get_cpu | $e_get_cpu | | |

Durable-write floor of this disk (p50 / p99 of one 4 KiB write made
durable): O_DIRECT|O_DSYNC, as libraft writes, $floor_direct; write +
fdatasync, as etcd's WAL, $floor_fdatasync.  A single client's PUT waits for
one of these, so it bounds the single-client p50 from below.

IPC floor (p50 / p99 of one request/reply round trip between two
processes): nng req/rep over ipc://, as httpd calls raftd, $ipc_nng; a
UNIX socketpair, $ipc_unix.  A PUT crosses the bus there and back once, so
its p50 cannot go below the disk's floor plus the nng round trip.

wrk (2 threads at 64 connections, 1 for latency) runs on the same $(nproc)
cores as the server it measures; the other server is idle meanwhile.  Load
average before / after: $load0 / $load1 (anything above ~1 is other work on
the machine, and throughput numbers move with it; CPU per request moves
much less).  Both GETs use each system's default read: tribune's is
Consul's \`default\` (the leader's local store, no Raft round trip), etcd's
v3 range is linearizable (a ReadIndex round).

How tribune's KV path runs since December 2026 (docs/architecture.md): a
GET with the default consistency is answered by httpd itself from raftd's
LMDB store opened read-only (no call to raftd: ~15 µs of server CPU, it was
~130 µs through the bus); PUTs and DELETEs go to raftd in batches, one
\`raft.kv_batch\` in flight, the writes that arrive meanwhile leaving
together as one Raft entry and one LMDB txn (~50 µs a PUT, it was ~190 µs).
At 64 connections both servers are CPU-bound on two cores they share with
wrk, so the PUT ratio follows the CPU ratio only as far as wrk's own share
allows, and moves with how etcd fared in the run (its PUT throughput ranged
4,400-9,400 req/s on this machine).  perf on a PUT run (December 2026):
about half of httpd's and raftd's time is the kernel switching threads
(futex waits and wake-ups of nng's task threads, MHD's thread woken once
per resumed connection) rather than the work itself.  A lone client's PUT
(p50) is the disk's durable write plus one nng round trip (both floors
above) plus HTTP and the apply.  With the disk's floor alone at or near
0.2 ms and nng's round trip well above 0.1 ms on this machine, the sum of
the two floors is over the 0.3 ms target before any work is done: the
target cannot be met here while the processes talk over nng, which the
design fixes (DESIGN.md, IPC).  nng 1.5.2 hands each message through its
poller thread and two task threads on each side; on this paravirtualized
machine every such wake-up is dear (perf: 43% of raftd's samples under a
PUT load are the hypervisor's irq-enable path inside futex waits and
wake-ups).  Where a lone PUT's ~0.7 ms went, measured once with
timestamps at each hand-over (December 2026, p50): httpd to raftd's
handler 130-160 µs; raftd 220-260 µs, of which the Raft append and
commit (the durable write) 190-210 µs; raftd's reply to httpd's callback
200-280 µs (the reply shares the CPU with the raft.changed events fanned
out to httpd and dnsd at the same moment); HTTP parsing, MHD's suspend and
resume and wrk about 120 µs.
MD
