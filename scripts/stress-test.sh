#!/usr/bin/env bash
# Runs the whole suite N times (default 3) with a CPU hog on every core beside it, and reports pass/fail per
# run: the suite must hold on a loaded 2-core machine (GUIDE: no wall-clock bounds, no fixed sleeps then
# counts). For developers, not CI: a run takes the suite's time several times over.
#
#   scripts/stress-test.sh            # 3 runs, hog on all cores
#   scripts/stress-test.sh 5          # 5 runs
#   STRESS_CPUS=4 scripts/stress-test.sh
#   STRESS_ARGS='--project unit' scripts/stress-test.sh 10   # only the unit project, ten times
#
# The hog is `stress-ng --cpu N` when stress-ng is installed (apt install stress-ng), otherwise N node
# busy loops. Logs: .stress/run-K.log. Exit status: the number of failed runs (0 = every run passed).
set -uo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
cpus=${STRESS_CPUS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p .stress

hog_pids=()
start_hog() {
  if command -v stress-ng >/dev/null 2>&1; then
    stress-ng --cpu "$cpus" --quiet &
    hog_pids+=($!)
    echo "hog: stress-ng --cpu $cpus (pid $!)"
  else
    for _ in $(seq 1 "$cpus"); do
      node -e 'for (;;) {}' &
      hog_pids+=($!)
    done
    echo "hog: $cpus node busy loops (pids ${hog_pids[*]})"
  fi
}
stop_hog() {
  for pid in "${hog_pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${hog_pids[@]}"; do wait "$pid" 2>/dev/null; done
  hog_pids=()
}
trap stop_hog EXIT INT TERM

# Build once up front (lint, dist/), as `npm test` would, so each run measures the suite only.
npm run --silent lint:layers >/dev/null || { echo "lint:layers failed; fix that first"; exit 1; }
node scripts/build-cli.mjs --if-stale

start_hog
failed=0
summary=()
for k in $(seq 1 "$runs"); do
  log=".stress/run-$k.log"
  started=$(date +%s)
  # shellcheck disable=SC2086 # STRESS_ARGS is a list of vitest arguments
  npx vitest run ${STRESS_ARGS:-} >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - started))
  load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
  counts=$(grep -E '^tests: ' "$log" | tail -n1)
  if [ "$rc" = 0 ]; then verdict=PASS; else verdict=FAIL; failed=$((failed + 1)); fi
  line="run $k/$runs: $verdict in ${took}s (load average $load) ${counts:-no summary line} — $log"
  summary+=("$line")
  echo "$line"
  if [ "$rc" != 0 ]; then grep -E '^ *(FAIL|×)' "$log" | sed 's/^/    /' | head -n 20; fi
done
stop_hog

echo
printf '%s\n' "${summary[@]}"
echo "$((runs - failed)) of $runs runs passed with $cpus CPU hog(s) beside the suite"
exit "$failed"
