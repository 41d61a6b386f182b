#!/usr/bin/env bash
# Runs every Fuzz target of the module: scripts/fuzz.sh [FUZZTIME [JOBS [PACKAGES...]]]
# FUZZTIME is the fuzzing time of each target (default 5s), a duration or a
# count (20000x), as go test's -fuzztime.
#
# A `go test -fuzz` builds and links its package's coverage-instrumented test
# binary on every call (~7 s of a 10 s run for a 3 s target here), so this
# builds that binary once per package (`go test -c -fuzz=.`: the same
# instrumentation) and runs it once per target, as go test would run it: in
# the package's directory, with go test's fuzz cache (-test.fuzzcachedir) and
# one fuzzing worker. JOBS packages are handled at once (default 2), each
# building its binary then fuzzing its targets one after the other, the
# packages with most targets first. PACKAGES (default ./...) are go list
# patterns.
#
# A run must gather baseline coverage and count "new interesting" inputs,
# which only a binary with coverage instrumentation does; a run without
# them fails. Each target's line gives its counts (under load, a target
# with a big corpus may spend its whole time on the baseline: said so). A run that fails with a
# saved failing input is a real failure: the reproducer's path and the command
# that re-runs it are printed. Go's engine sometimes reports "context deadline
# exceeded" without any input when its time runs out mid-execution; such a
# run is retried (up to 3 attempts).
set -euo pipefail
cd "$(dirname "$0")/.."
ft="${1:-5s}"
jobs="${2:-2}"
shift $(($# < 2 ? $# : 2))
[ $# -gt 0 ] || set -- ./...
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
module="$(go list -m)"
fuzzcache="$(go env GOCACHE)/fuzz"

# fuzz_one PKG DIR BIN TARGET: one target, retried on the engine's deadline
# hiccup; its output is kept only when it fails.
fuzz_one() {
  local pkg="$1" dir="$2" bin="$3" t="$4" log="$work/${4}-$$-$RANDOM.log" rel="${1#"$module"/}"
  local crash stats
  for attempt in 1 2 3; do
    # -test.* flags: those go test passes to a fuzzing test binary.
    if (cd "$dir" && "$bin" -test.paniconexit0 -test.timeout=10m0s \
      -test.fuzzcachedir="$fuzzcache/$pkg" -test.run='^$' -test.fuzz="^${t}\$" \
      -test.fuzztime="$ft" -test.parallel=1) > "$log" 2>&1; then
      # Only a coverage-instrumented binary gathers baseline coverage and
      # counts new interesting inputs (without, it "tests the seed corpus").
      stats="$(grep -o 'execs: [0-9]* .*new interesting: [0-9]*' "$log" | tail -n 1 | sed -E 's/execs: ([0-9]+) .*new interesting: ([0-9]+)/\1 execs, \2 new interesting/')"
      if [ -z "$stats" ]; then
        stats="$(grep -o 'gathering baseline coverage: [0-9]*/[0-9]*' "$log" | tail -n 1 | sed -E 's|.*: (.*)|baseline coverage of \1 inputs only: the time ran out before fuzzing|')"
      fi
      if [ -z "$stats" ]; then
        echo "-- fuzz $pkg $t ($ft): FAILED: no coverage-guided run (a binary without coverage instrumentation?)"
        cat "$log"
        return 1
      fi
      echo "-- fuzz $pkg $t ($ft): ok ($stats)"
      return 0
    fi
    crash="$(sed -n 's/^[[:space:]]*Failing input written to //p' "$log" | tail -n 1)"
    if [ "$attempt" -lt 3 ] && [ -z "$crash" ] && grep -q "context deadline exceeded" "$log"; then
      echo "   $pkg $t: engine deadline hiccup without a failing input; retrying"
      continue
    fi
    echo "-- fuzz $pkg $t ($ft): FAILED"
    cat "$log"
    if [ -n "$crash" ]; then
      echo "-- fuzz $pkg $t: reproducer $rel/$crash"
      echo "-- fuzz $pkg $t: re-run with: go test -run=$t/$(basename "$crash") ./$rel"
    fi
    return 1
  done
}

# fuzz_pkg PKG DIR TARGET...: builds PKG's instrumented test binary, then
# fuzzes each target; every target runs even when one fails.
fuzz_pkg() {
  local pkg="$1" dir="$2" bin log failed=0 t
  shift 2
  bin="$work/$(echo "${pkg#"$module"/}" | tr / _).test"
  log="$bin.build.log"
  # -ldflags: go test strips the test binaries it runs itself, not those of -c.
  if ! go test -c -fuzz=. -ldflags='-s -w' -o "$bin" "$pkg" > "$log" 2>&1; then
    echo "-- fuzz $pkg: FAILED to build its test binary ($* not run)"
    cat "$log"
    return 1
  fi
  for t in "$@"; do
    fuzz_one "$pkg" "$dir" "$bin" "$t" || failed=1
  done
  rm -f "$bin"
  return "$failed"
}

# One line per package with targets: "COUNT PKG DIR TARGET...", most
# targets first.
go list -f '{{.ImportPath}} {{.Dir}}' "$@" | while read -r pkg dir; do
  ts="$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u | tr '\n' ' ')" || true
  if [ -n "$ts" ]; then
    echo "$(wc -w <<<"$ts") $pkg $dir $ts"
  fi
done | sort -k1,1nr -k2,2 > "$work/plan"

ntargets=0
failed=0
running=0
while read -r n pkg dir ts; do
  ntargets=$((ntargets + n))
  # shellcheck disable=SC2086 # one target per word
  fuzz_pkg "$pkg" "$dir" $ts < /dev/null &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done < "$work/plan"
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
echo "fuzz: $ntargets targets in $(wc -l < "$work/plan") packages (one test binary each)"
exit "$failed"
