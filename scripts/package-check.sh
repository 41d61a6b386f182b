#!/usr/bin/env bash
# Packaging check (scripts/test.sh runs it): builds the linux/amd64 binary,
# .deb and .rpm (packaging/build.sh), then inspects them: the files each
# package holds (dpkg-deb -c; rpm -qlp, rpm being installed from Debian's
# packages when missing and possible), the conffile, the version the binary
# reports, and `systemd-analyze verify` on the unit files as packaged.
# A check that cannot run here says why and is counted as skipped, never
# as passed. Fast once the Go build cache is warm (the first run compiles
# nfpm, a few minutes on a busy machine).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--mod=mod}"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
skipped=0
fail() { echo "package-check: FAIL: $*" >&2; exit 1; }
skip() { echo "package-check: SKIP: $*"; skipped=$((skipped + 1)); }

VERSION="0.0.0+check" ARCHS=amd64 DIST="$out" packaging/build.sh >/dev/null
deb="$(ls "$out"/*.deb)"
rpm="$(ls "$out"/*.rpm)"

want=(
  ./usr/bin/phalanx
  ./usr/lib/systemd/system/phalanx.service
  ./usr/lib/systemd/system/phalanx-firewall-bouncer.service
  ./etc/phalanx/phalanx.yaml
  ./etc/phalanx/acquis.d/
  ./var/lib/phalanx/
)

echo "== .deb: $(basename "$deb")"
listing="$(dpkg-deb -c "$deb")"
for p in "${want[@]}"; do
  grep -qE "[[:space:]]$(printf '%s' "$p" | sed 's/[.]/\\./g')( |$)" <<<"$listing" || fail "$p missing from the .deb"
done
grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/phalanx$' <<<"$listing" || fail "/usr/bin/phalanx is not root-owned 0755"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/phalanx/phalanx.yaml || fail "/etc/phalanx/phalanx.yaml is not a conffile"
echo "   ${#want[@]} paths present, config is a conffile"

echo "== .rpm: $(basename "$rpm")"
if ! command -v rpm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rpm >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rpm >/dev/null 2>&1; } || true
fi
if command -v rpm >/dev/null 2>&1; then
  rlist="$(rpm -qlp "$rpm" 2>/dev/null)"
  for p in "${want[@]}"; do
    p="${p#.}"; p="${p%/}"
    grep -qx "$p" <<<"$rlist" || fail "$p missing from the .rpm"
  done
  rpm -qp --qf '%{VERSION}\n' "$rpm" 2>/dev/null | grep -q '^0.0.0+check$' || fail "rpm version is not 0.0.0+check"
  echo "   ${#want[@]} paths present"
else
  skip "rpm listing: the rpm tool is not installed and could not be installed here"
fi

echo "== version"
"$out/phalanx-linux-amd64" version -o json | grep -q '"version": "0.0.0+check"' || fail "the binary does not report its version"
file_out="$(od -An -c -N4 "$out/phalanx-linux-amd64" | tr -d ' ')"
[ "$file_out" = '177ELF' ] || fail "not an ELF binary"
if command -v ldd >/dev/null 2>&1 && ldd "$out/phalanx-linux-amd64" 2>&1 | grep -q '=>'; then
  fail "the binary is dynamically linked"
fi
echo "   0.0.0+check, static"

echo "== systemd-analyze verify (units as packaged)"
if command -v systemd-analyze >/dev/null 2>&1; then
  root="$out/root"
  mkdir -p "$root"
  dpkg-deb -x "$deb" "$root"
  units="$out/units"
  mkdir -p "$units"
  for u in "$root"/usr/lib/systemd/system/*.service; do
    # verify checks that ExecStart's binary exists: point it at the extracted one.
    sed "s|/usr/bin/phalanx|$root/usr/bin/phalanx|" "$u" >"$units/$(basename "$u")"
  done
  if msgs="$(systemd-analyze verify "$units"/*.service 2>&1)"; then
    [ -z "$msgs" ] || fail "systemd-analyze verify: $msgs"
    echo "   $(ls "$units" | wc -l) units verified"
  else
    case "$msgs" in
      *"Failed to"*"bus"*|*"System has not been booted with systemd"*) skip "systemd-analyze verify cannot run here: $msgs" ;;
      *) fail "systemd-analyze verify: $msgs" ;;
    esac
  fi
else
  skip "systemd-analyze is not installed"
fi

echo "package-check: ok ($skipped skipped)"
