#!/usr/bin/env bash
# Checks: 1,000 HTTP checks at a 1 s interval on one agent (bench/checks.py),
# as a markdown section for docs/performance.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(/usr/bin/python3 "$here/checks.py" -n 1000 -t "${BENCH_SECONDS:-20}")
cat <<MD
## Checks: 1,000 HTTP checks at 1 s

One agent runs 1,000 HTTP checks against a local HTTP server that records
when each check arrives; the gaps between two runs of one check show
whether checkd keeps its schedule.  Target: every check on schedule.

\`\`\`
$out
\`\`\`
MD
