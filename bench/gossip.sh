#!/usr/bin/env bash
# Gossip: failure detection and convergence, tribune vs Debian's serf agent
# (tests/system/test_gossip_scale.py with GOSSIP_BENCH=1), as markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(GOSSIP_BENCH=1 /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
  tests/system/test_gossip_scale.py 2>&1 | tail -n 40)
cat <<MD
## Gossip: tribune vs serf

Kill -9 of one of N agents (N = 5, 50): time until every other member marks
it failed, convergence after joins, RSS.  Targets: detection ≤ 2 s at N=5,
no false positive at 5% loss, gossipd RSS ≤ 3 MB.

\`\`\`
$out
\`\`\`
MD
