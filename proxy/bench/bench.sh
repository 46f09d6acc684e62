#!/usr/bin/env bash
# `npm run bench` (repository root; the proxy package has no `bench` script) runs this:
# install the peers (idempotent), build the proxy, run the benchmark.
# Options are environment variables; see README.md (e.g. BENCH_DURATION=3s BENCH_ONLY=direct,ours).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
(cd "$here/../.." && npm run build --silent --workspace proxy)
# 1,000 concurrent streams need ~3,000 descriptors across client and proxy.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
PATH="$PATH:/usr/sbin:/sbin" exec node "$here/run.mjs"
