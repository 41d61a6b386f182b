#!/usr/bin/env bash
# Runs every Fuzz target of the module: scripts/fuzz.sh [FUZZTIME [JOBS]]
# FUZZTIME is go test's -fuzztime (default 5s), a duration or a count (20000x).
# JOBS targets run at once (default 2), each with one fuzzing worker: most of
# a short run is go test's start-up, which overlaps then (58 targets at 3 s:
# 6.4 min one at a time with a worker per core).
# A run that fails with a saved failing input is a real failure. Go's engine
# sometimes reports "context deadline exceeded" without any input when its
# time runs out mid-execution; such a run is retried (up to 3 attempts).
set -euo pipefail
cd "$(dirname "$0")/.."
ft="${1:-5s}"
jobs="${2:-2}"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# fuzz_one PKG TARGET: one target, retried on the engine's deadline hiccup;
# its output is kept only when it fails.
fuzz_one() {
  local pkg="$1" t="$2" log="$logs/${2}-$$-$RANDOM"
  for attempt in 1 2 3; do
    if go test -run='^$' -fuzz="^${t}\$" -fuzztime="$ft" -parallel 1 "$pkg" > "$log" 2>&1; then
      echo "-- fuzz $pkg $t ($ft): ok"
      return 0
    fi
    if [ "$attempt" -lt 3 ] && grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input written" "$log"; then
      echo "   $pkg $t: engine deadline hiccup without a failing input; retrying"
      continue
    fi
    echo "-- fuzz $pkg $t ($ft): FAILED"
    cat "$log"
    return 1
  done
}

targets=()
for pkg in $(go list ./...); do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    targets+=("$pkg $t")
  done
done

failed=0
running=0
for pt in "${targets[@]}"; do
  # shellcheck disable=SC2086 # "pkg target"
  fuzz_one $pt &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
echo "fuzz: ${#targets[@]} targets"
exit "$failed"
