#!/usr/bin/env bash
# make bench: runs every benchmark here and writes docs/performance.md.
# Each bench/*.sh prints a markdown section on stdout; this script stamps the
# machine and date on top.  Numbers are measured, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TRIBUNE_BUILD:=$PWD/build}"
export TRIBUNE_BUILD
out=docs/performance.md
tmp=$(mktemp)
{
  echo "# Performance"
  echo
  echo "Written by \`make bench\` ($(date -u +%Y-%m-%d), $(uname -r))."
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo),"
  echo "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)."
  echo "Load generators share the machine with the systems under test, so every"
  echo "number is lower than on separate hosts; what matters is the side-by-side."
  echo
  for b in bench/kv.sh bench/dns.sh bench/health.sh bench/gossip.sh bench/checks.sh; do
    [ -x "$b" ] || continue
    echo "running $b" >&2
    "$b" || echo "_${b} failed: see the output of make bench._"
    echo
  done
} > "$tmp"
mv "$tmp" "$out"
echo "wrote $out" >&2
cat "$out"
