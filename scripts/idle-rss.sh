#!/bin/sh
# idle-rss.sh: the daemon's resident memory once idle (agent + LAPI, SQLite,
# embedded content, one watched log), sampled after SETTLE seconds.
# Usage: scripts/idle-rss.sh [SETTLE]   (default 5)
set -eu
settle=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/phalanx" ./cmd/phalanx)
: > "$tmp/auth.log"
printf 'filenames:\n  - %s\nlabels:\n  type: syslog\n' "$tmp/auth.log" > "$tmp/acquis.yaml"
printf 'agent:\n  acquisition_path: %s\n' "$tmp/acquis.yaml" > "$tmp/phalanx.yaml"
"$tmp/phalanx" run -c "$tmp/phalanx.yaml" --data-dir "$tmp/data" --listen 127.0.0.1:0 --log-level error >"$tmp/out" 2>&1 &
pid=$!
sleep "$settle"
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
echo "idle_rss_kib=$rss peak_rss_kib=$hwm settle_s=$settle"
