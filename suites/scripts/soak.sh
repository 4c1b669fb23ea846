#!/usr/bin/env bash
# soak.sh: run the gate N times back to back (default 10) on the healthy
# sample workload and count false failures: failed requests, and runs that
# did not pass. A healthy workload must give 0 of both; any failed request
# is listed with its error so its cause can be chased.
#
#   suites/scripts/soak.sh [N] [extra chaosgate run flags...]
#
# Needs a built bin/chaosgate (make build) and Docker; the first run creates
# the cluster if there is none. Reports go to chaosgate-reports/soak-TIME/.
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-10}"
shift || true
bin=bin/chaosgate
[ -x "$bin" ] || { echo "soak: $bin missing; run make build" >&2; exit 2; }
root="chaosgate-reports/soak-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$root"
total_failed=0
runs_failed=0
printf '%-4s %-6s %-9s %-8s %-12s %s\n' run exit requests failed availability p99ms | tee "$root/summary.txt"
for i in $(seq 1 "$n"); do
  dir="$root/run-$i"
  set +e
  "$bin" run --report-dir "$dir" "$@" >"$dir.log" 2>&1
  code=$?
  set -e
  read -r requests failed avail p99 < <(jq -r '[.scenarios[0].timeline.total, .scenarios[0].timeline.failed, .scenarios[0].timeline.availability, .scenarios[0].timeline.latencyMs.p99] | @tsv' "$dir/report.json" 2>/dev/null || echo "0 0 0 0")
  printf '%-4s %-6s %-9s %-8s %-12s %s\n' "$i" "$code" "$requests" "$failed" "$avail" "$p99" | tee -a "$root/summary.txt"
  total_failed=$((total_failed + failed))
  [ "$code" = 0 ] || runs_failed=$((runs_failed + 1))
  if [ "$failed" != 0 ]; then
    jq -c 'select(.error != null or .code >= 400)' "$dir/results-self-healing.jsonl" | head -25 >"$dir/failed-requests.jsonl" || true
  fi
done
echo "soak: $n runs, $runs_failed did not pass, $total_failed failed requests in all (reports in $root)" | tee -a "$root/summary.txt"
[ "$runs_failed" = 0 ] && [ "$total_failed" = 0 ]
