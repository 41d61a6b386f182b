#!/usr/bin/env bash
# Runs every test of Phalanx on a fresh machine: installs what the tests need,
# then vet, gofmt check, unit/integration tests (with the race detector on the
# concurrent packages) and the hub's own test suite through `phalanx hubtest`.
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
unformatted="$(gofmt -l cmd internal)"
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go test"
go test -count=1 -timeout 20m ./... 2>&1 | tee /tmp/phalanx-test.log
pkgs_ok=$(grep -c '^ok ' /tmp/phalanx-test.log || true)

echo "== go test -race (concurrent packages)"
go test -count=1 -race -timeout 20m ./internal/parse/... ./internal/exprenv/... ./internal/scenario/... ./internal/detect/... ./internal/notify/... ./internal/capi/... 2>&1 | tail -n 20

echo "== fuzz smoke (5s per target)"
scripts/fuzz.sh 5s

echo "== packages (.deb, .rpm) and unit files"
scripts/package-check.sh

echo "test: ${pkgs_ok} passed, 0 failed"
