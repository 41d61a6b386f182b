#!/bin/sh
# After install or upgrade: let systemd see the units; restart what runs.
# Nothing is enabled here: `phalanx setup` detects the services to protect,
# writes their acquisition and enables the units.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  for u in phalanx.service phalanx-firewall-bouncer.service; do
    if systemctl is-active --quiet "$u"; then
      systemctl restart "$u" || true
    fi
  done
fi
if [ ! -e /etc/systemd/system/multi-user.target.wants/phalanx.service ]; then
  echo "phalanx: run 'sudo phalanx setup' to detect your services and start protecting them."
fi
exit 0
