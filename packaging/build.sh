#!/usr/bin/env bash
# Release build: static binaries (CGO_ENABLED=0) for linux/amd64 and
# linux/arm64 stamped with version, commit and date, then a .deb and an
# .rpm of each with nfpm (pinned in packaging/tools/go.mod, run with
# `go tool`: only the Go module proxy is needed). Output in dist/.
#
#   packaging/build.sh                 # version from `git describe`, both archs
#   VERSION=1.2.3 ARCHS=amd64 packaging/build.sh
#   PACKAGES=none packaging/build.sh   # binaries only
#   DIST=/tmp/out packaging/build.sh   # elsewhere than dist/
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--mod=mod}"

commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ -z "${VERSION:-}" ]; then
  VERSION="$(git describe --tags --match 'v[0-9]*' 2>/dev/null || echo "0.0.0+git$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")"
fi
VERSION="${VERSION#v}"
# The commit's date, not the build's: the same commit builds the same bytes.
date="$(git log -1 --format=%cd --date=format:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)"
ARCHS="${ARCHS:-amd64 arm64}"
PACKAGES="${PACKAGES:-deb rpm}"
DIST="${DIST:-dist}"
mkdir -p "$DIST"

pkg=github.com/phalanx-ids/phalanx/internal/version
for arch in $ARCHS; do
  out="$DIST/phalanx-linux-$arch"
  echo "== build $out ($VERSION)"
  CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X $pkg.version=$VERSION -X $pkg.commit=$commit -X $pkg.date=$date" \
    -o "$out" ./cmd/phalanx
  for p in $PACKAGES; do
    [ "$p" = none ] && continue
    echo "== package $p ($arch)"
    mkdir -p dist/stage && cp "$out" dist/stage/phalanx # where nfpm.yaml takes it
    PHALANX_VERSION="$VERSION" NFPM_ARCH="$arch" \
      go tool -modfile=packaging/tools/go.mod nfpm package --config packaging/nfpm.yaml --packager "$p" --target "$DIST/" >/dev/null
  done
done
rm -rf dist/stage
ls -l "$DIST/"
