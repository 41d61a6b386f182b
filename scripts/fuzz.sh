#!/usr/bin/env bash
# Runs every Fuzz target of the module: scripts/fuzz.sh [FUZZTIME]
# FUZZTIME is go test's -fuzztime (default 5s), a duration or a count (20000x).
# A run that fails with a saved failing input is a real failure. Go's engine
# sometimes reports "context deadline exceeded" without any input when its
# time runs out mid-execution; such a run is retried (up to 3 attempts).
set -euo pipefail
cd "$(dirname "$0")/.."
ft="${1:-5s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- fuzz $pkg $t ($ft)"
    for attempt in 1 2 3; do
      if go test -run='^$' -fuzz="^${t}\$" -fuzztime="$ft" "$pkg" > "$log" 2>&1; then
        break
      fi
      if [ "$attempt" -lt 3 ] && grep -q "context deadline exceeded" "$log" && ! grep -q "Failing input written" "$log"; then
        echo "   (engine deadline hiccup without a failing input; retrying)"
        continue
      fi
      cat "$log"
      exit 1
    done
  done
done
