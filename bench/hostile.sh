#!/usr/bin/env bash
# Before/after figures of bench/hostile: the same attacks against the LAPI
# of a base revision (default main) and of this tree, back to back so that
# both see the same machine load.
#
#   bench/hostile.sh                   # every attack, 60 s each
#   BASE=HEAD~3 DURATION=30s bench/hostile.sh slow bruteforce
#
# Attacks: none (the baseline), slow (10,000 slow or idle connections),
# bigheaders (1,000 unfinished 1 MiB headers), bruteforce (8 wrong-password
# attackers on one id), spray (8 attackers, random ids, rotating addresses).
set -euo pipefail
cd "$(dirname "$0")/.."
base="${BASE:-main}"
dur="${DURATION:-60s}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
git archive "$base" | tar -x -C "$out" --one-top-level=base
(cd "$out/base" && go build -o "$out/phalanx-base" ./cmd/phalanx)
go build -o "$out/phalanx-tree" ./cmd/phalanx
go build -o "$out/hostile" ./bench/hostile
attacks=("$@")
[ ${#attacks[@]} -gt 0 ] || attacks=(none slow bigheaders bruteforce spray)
for a in "${attacks[@]}"; do
  args=(-mode "$a" -duration "$dur")
  case "$a" in
    slow) args+=(-conns 10000 -warmup 20s) ;;
    bigheaders) args+=(-conns 1000 -header-size 1048576 -warmup 15s) ;;
    *) args+=(-warmup 5s) ;;
  esac
  "$out/hostile" -phalanx "$out/phalanx-base" -label "$base" "${args[@]}" 2>/dev/null
  "$out/hostile" -phalanx "$out/phalanx-tree" -label tree "${args[@]}" 2>/dev/null
done
