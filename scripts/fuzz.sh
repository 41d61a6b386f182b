#!/usr/bin/env bash
# Runs every Fuzz target of the module for a while each: scripts/fuzz.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
dur="${1:-30s}"
for pkg in $(go list ./...); do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- fuzz $pkg $t ($dur)"
    go test -run='^$' -fuzz="^${t}\$" -fuzztime="$dur" "$pkg" > /tmp/phalanx-fuzz.log 2>&1 || { cat /tmp/phalanx-fuzz.log; exit 1; }
  done
done
