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

# wrk prints "Requests/sec:" and, with --latency, a percentile table.
rps()  { awk '/Requests\/sec/ {print $2}'; }
pct()  { awk -v p="$1" '$1==p {print $2}'; }
run()  { wrk -t2 -c64 -d"${DUR}s" -s "$here/$1" "$2" 2>&1; }
lat()  { wrk -t1 -c1 -d"${DUR}s" --latency -s "$here/$1" "$2" 2>&1; }

t_put=$(run kv_put_tribune.lua http://127.0.0.62:8500 | rps)
e_put=$(run kv_put_etcd.lua http://127.0.0.61:2379 | rps)
t_get=$(run kv_get_tribune.lua http://127.0.0.62:8500 | rps)
e_get=$(run kv_get_etcd.lua http://127.0.0.61:2379 | rps)
tl=$(lat kv_put_tribune.lua http://127.0.0.62:8500)
el=$(lat kv_put_etcd.lua http://127.0.0.61:2379)
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
MD
