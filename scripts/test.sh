#!/usr/bin/env bash
# Runs every test of Phalanx on a fresh machine: installs what the tests need,
# then vet, gofmt check, the unit/integration tests under the race detector
# (every package but the hub suite and the CLI), those two, grok and natexpr
# without it, the fuzz smoke and the package check. Each stage fails the
# script when anything in it fails; the counts printed are those of go
# test's JSON events (scripts/testcount), skipped tests by name.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:--mod=mod}"
export TZ=UTC

# The hub copy (../shared/hub) is test data; it is read-only and never copied here.
# Tests serve it over loopback as a hub mirror (internal/testutil.NewHubServer).
if [ ! -d ../shared/hub ]; then
  cat >&2 <<'MSG'
scripts/test.sh: ../shared/hub is missing (the hub test data lives beside the repo).
Get the pinned copy the tests expect (see ../shared/hub/NOTICE.md of a complete checkout):
  git clone https://github.com/crowdsecurity/hub ../shared/hub-src
  git -C ../shared/hub-src checkout b03cb59b2131ebfc5300f5f14828e29967efd1a5
  mkdir -p ../shared/hub
  cp -r ../shared/hub-src/{parsers,scenarios,postoverflows,collections,contexts,LICENSE} ../shared/hub/
  cp ../shared/hub-src/.index.json ../shared/hub/index.json
  cp -r ../shared/hub-src/.tests ../shared/hub/tests
  # grok patterns: CrowdSec's engine repository, config/patterns at a88b497b471e0f97c76997d177400502baf01903
  git clone https://github.com/crowdsecurity/crowdsec ../shared/crowdsec-src
  git -C ../shared/crowdsec-src checkout a88b497b471e0f97c76997d177400502baf01903
  cp -r ../shared/crowdsec-src/config/patterns ../shared/hub/patterns
  # data files: https://github.com/crowdsecurity/sec-lists at 1149fa30e8b184c3e17c4f0ad11997a762f8a237,
  # laid out as data/<path of each item's source_url> (data/web/bad_user_agents.txt, ...)
MSG
  exit 1
fi

echo "== PostgreSQL test server (installed from Debian's packages if missing)"
pgdir="$(mktemp -d)"
chmod 755 "$pgdir"
PHALANX_TEST_PG_DSN="$(scripts/pg.sh start "$pgdir")"
export PHALANX_TEST_PG_DSN
trap 'scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true' EXIT

echo "== Firewall tools for the firewall bouncer's tests (installed from Debian's packages if missing)"
# The firewall tests (internal/bouncer/firewall) run as root in network
# namespaces joined by veth pairs, programming nftables through netlink and
# iptables/ipset through their binaries.
fwmissing=""
for tool in nft:nftables iptables:iptables ipset:ipset ip:iproute2; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || fwmissing="$fwmissing ${tool#*:}"
done
if [ -n "$fwmissing" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $fwmissing >/dev/null
fi

echo "== Chromium for the HTTP bouncer's browser test (installed from Debian's packages if missing)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: chromium is not installed and installing needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q chromium >&2; then
    apt-get update -q >&2
    apt-get install -y -q chromium >&2
  fi
fi

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted="$(gofmt -l cmd internal scripts)"
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi

tools="$(mktemp -d)"
tally="$tools/tally"
trap 'scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$tools"' EXIT
go build -o "$tools/testcount" ./scripts/testcount

# Each stage is timed (bash's time keyword, on stderr).
stage() { echo "== $1"; }

# Every package runs under the race detector but two: the hub test suite
# (it replays ~900 hub cases through code the other packages' race runs
# cover, each engine part with its own concurrent tests; 200 s of a 24 min
# race run alone) and the CLI (one command at a time against the daemon
# and LAPI whose concurrency their own packages test; each of its ~200
# steps logs in with a bcrypt compare, ~10x slower under the detector).
# The single-goroutine hub differential tests of grok and natexpr run on a
# sample under -race (raceStride in their tests), so these two packages run
# once more without it, whole. (Two runs of everything, plain and -race,
# took ~40 min on 2 cores: over CI's budget.)
norace='/internal/(hub/hubtest|cli)$'
plain='/internal/(hub/hubtest|cli|grok|natexpr)$'
all_race_pkgs="$(go list ./... | grep -v -E "$norace")"
plain_pkgs="$(go list ./... | grep -E "$plain")"

# The race run's slowest packages go first (go test starts packages in the
# order given, two at a time on 2 cores): in go list's order internal/ui
# (~90 s) started near the end and ended last; scheduling these run times
# on two slots gives 604 s in go list's order, 562 s in this one (builds
# not counted). Seconds under -race in a run of this script on
# 2026-12-07: app 154, detect 128, grok 117,
# ui 92, scenario 79, parse 72, bouncer/firewall 61, lapi 53, capi 52,
# central/server 44, natexpr 37, hub/install 32; the other 71 packages
# 1-23 s each. Only the order changes: every package of all_race_pkgs runs.
module="$(go list -m)"
race_pkgs=""
for p in app detect grok ui scenario parse bouncer/firewall lapi capi central/server natexpr hub/install; do
  if grep -qx "$module/internal/$p" <<<"$all_race_pkgs"; then
    race_pkgs="$race_pkgs $module/internal/$p"
  fi
done
for p in $all_race_pkgs; do
  case " $race_pkgs " in *" $p "*) ;; *) race_pkgs="$race_pkgs $p" ;; esac
done
if [ "$(tr ' ' '\n' <<<"$race_pkgs" | grep -c .)" != "$(grep -c . <<<"$all_race_pkgs")" ]; then
  echo "scripts/test.sh: the ordered race package list lost or doubled a package" >&2
  exit 1
fi

# -vet=off: go vet ./... ran above (every analyzer go test would run).
stage "go test -race (every package but the hub suite and the CLI)"
# shellcheck disable=SC2086 # one package per word
time go test -count=1 -race -vet=off -timeout 25m -json $race_pkgs 2>&1 | tee /tmp/phalanx-test-race.json | "$tools/testcount" -stage "go test -race" -tally "$tally"

stage "go test (the hub suite, the CLI; grok and natexpr whole)"
# shellcheck disable=SC2086
time go test -count=1 -vet=off -timeout 20m -json $plain_pkgs 2>&1 | tee /tmp/phalanx-test.json | "$tools/testcount" -stage "go test" -tally "$tally"

stage "fuzz smoke (3s per target; one instrumented test binary per package, two packages at a time)"
time scripts/fuzz.sh 3s

stage "packages (.deb, .rpm) and unit files"
time scripts/package-check.sh

"$tools/testcount" -sum "$tally"
