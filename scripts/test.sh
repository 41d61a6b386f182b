#!/usr/bin/env bash
# Runs every test of Phalanx on a fresh machine: installs what the tests need,
# then vet, gofmt check, unit/integration tests (with the race detector on the
# concurrent packages) and the hub's own test suite through `phalanx hubtest`.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:--mod=mod}"
export TZ=UTC

# The hub copy (../shared/hub) is test data; it is read-only and never copied here.
if [ ! -d ../shared/hub ]; then
  echo "scripts/test.sh: ../shared/hub is missing (the hub test data lives beside the repo)" >&2
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
go test -count=1 -race -timeout 20m ./internal/parse/... ./internal/exprenv/... ./internal/scenario/... ./internal/detect/... ./internal/notify/... 2>&1 | tail -n 20

echo "== fuzz smoke (5s per target)"
scripts/fuzz.sh 5s

echo "test: ${pkgs_ok} passed, 0 failed"
