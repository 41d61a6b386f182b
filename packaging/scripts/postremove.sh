#!/bin/sh
# After removal: let systemd forget the units. The data dir
# (/var/lib/phalanx) and /etc/phalanx stay (deb: purge removes the config).
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
