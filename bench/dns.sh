#!/usr/bin/env bash
# DNS: tribune-dnsd and NSD (Debian's, response rate limiting off) serving
# the same data, side by side: dnsperf QPS and average latency for service
# A, service SRV and node A lookups.  Prints a markdown section, like the
# other benchmarks of `make bench`.
#
# dnsd runs --standalone over a generated fixture: the same answer engine
# and socket loop as under the agent, without depending on the rest of the
# agent being up.  5 healthy web instances (one on its own IP, so its SRV
# target is a <hex>.addr name), 1 critical; EDNS on (dnsperf -e), so both
# servers return every record.
set -euo pipefail
: "${TRIBUNE_BUILD:=$PWD/build}"
DNSD=$TRIBUNE_BUILD/libexec/tribune-dnsd
DUR=${BENCH_SECONDS:-10}
work=$(mktemp -d)
cleanup() {
  [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null || true
  [ -f "$work/nsd.pid" ] && kill "$(cat "$work/nsd.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

/usr/bin/python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
nodes, svcs, checks = [], [], []
zone = ["$ORIGIN consul.", "$TTL 0",
        "@ IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0",
        "@ IN NS server1.node.dc1.consul."]
for i in range(1, 7):
    n = "node%d" % i
    nodes.append({"Node": n, "Address": "10.0.0.%d" % i})
    s = {"Node": n, "ID": "web%d" % i, "Service": "web", "Port": 80}
    if i == 5:
        s["Address"] = "192.168.1.5"
    svcs.append(s)
    checks.append({"Node": n, "CheckID": "serfHealth",
                   "Status": "critical" if i == 6 else "passing"})
    zone.append("%s.node IN A 10.0.0.%d" % (n, i))
    zone.append("%s.node.dc1 IN A 10.0.0.%d" % (n, i))
    if i <= 5:
        ip = s.get("Address", "10.0.0.%d" % i)
        target = "c0a80105.addr.dc1" if i == 5 else "%s.node.dc1" % n
        zone.append("web.service IN A %s" % ip)
        zone.append("web.service IN SRV 1 1 80 %s.consul." % target)
        if i == 5:
            zone.append("c0a80105.addr.dc1 IN A 192.168.1.5")
nodes.append({"Node": "server1", "Address": "10.0.0.100"})
zone.append("server1.node.dc1 IN A 10.0.0.100")
json.dump({"config": {"client_addr": "127.0.0.71", "ports": {"dns": 8600}},
           "Nodes": nodes, "Services": svcs, "Checks": checks},
          open(w + "/fixture.json", "w"))
open(w + "/consul.zone", "w").write("\n".join(zone) + "\n")
for name, q in (("svc_a", "web.service.consul A"),
                ("svc_srv", "web.service.consul SRV"),
                ("node_a", "node1.node.consul A")):
    open("%s/%s.txt" % (w, name), "w").write(q + "\n")
PY

cat > "$work/nsd.conf" <<NSD
server:
  ip-address: 127.0.0.72@8600
  server-count: 1
  username: ""
  zonesdir: "$work"
  database: ""
  pidfile: "$work/nsd.pid"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  logfile: "$work/nsd.log"
  hide-version: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: consul
  zonefile: consul.zone
NSD

"$DNSD" --standalone "$work/fixture.json" >"$work/dnsd.log" 2>&1 &
dpid=$!
nsd -c "$work/nsd.conf"
for i in $(seq 1 50); do
  dig +short +time=1 @127.0.0.71 -p 8600 node1.node.consul | grep -q 10.0.0.1 && \
  dig +short +time=1 @127.0.0.72 -p 8600 node1.node.consul | grep -q 10.0.0.1 && break
  sleep 0.2
done

# dnsperf: "Queries per second:" and "Average Latency (s):".
perf() {
  dnsperf -e -s "$1" -p 8600 -d "$work/$2.txt" -l "$DUR" -c 4 -q 100 2>&1
}
qps() { awk '/Queries per second/ {printf "%.0f", $4}'; }
lat() { awk '/Average Latency/ {printf "%.3f", $4 * 1000}'; }
lost() { awk '/Queries lost/ {print $3}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }'; }

rows=""
for q in svc_a svc_srv node_a; do
  d=$(perf 127.0.0.71 "$q"); n=$(perf 127.0.0.72 "$q")
  rows+="| $q | $(echo "$d" | qps) | $(echo "$n" | qps) | $(ratio "$(echo "$d" | qps)" "$(echo "$n" | qps)") | $(echo "$d" | lat) | $(echo "$n" | lat) | $(echo "$d" | lost) / $(echo "$n" | lost) |"$'\n'
done
rss=$(ps -o rss= -p "$dpid" | awk '{printf "%.1f", $1/1024}')

cat <<MD
## DNS: tribune-dnsd vs NSD ($(nsd -v 2>&1 | head -1 | awk '{print $3}'))

The same records on loopback (5 healthy web instances, SRV with additional
addresses, node A), dnsperf with EDNS, 4 clients, 100 queries outstanding,
${DUR} s per run.  NSD serves a static zone with rate limiting off; dnsd
shuffles and health-filters every answer.  Target: dnsd ≥ 0.5× NSD.

| query | dnsd QPS | NSD QPS | dnsd / NSD | dnsd avg ms | NSD avg ms | lost (dnsd / NSD) |
|---|---|---|---|---|---|---|
${rows}
dnsd RSS: ${rss} MiB.
MD
