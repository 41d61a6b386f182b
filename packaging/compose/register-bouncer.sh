#!/bin/sh
# One-shot: register the HTTP bouncer in the Local API's database and write
# its config, once (the config on its volume says it was done).
set -eu
cfg=/etc/phalanx/bouncers/http.yaml
data=/var/lib/phalanx
if [ -s "$cfg" ]; then
  echo "bouncer already registered ($cfg)"
  exit 0
fi
phalanx bouncers delete http-bouncer --data-dir "$data" >/dev/null 2>&1 || true
key="$(phalanx bouncers add http-bouncer -o raw --data-dir "$data")"
umask 077
cat > "$cfg.tmp" <<CONF
# The HTTP bouncer (phalanx bouncer http -c $cfg).
api_url: http://phalanx:8080/
api_key: $key
update_frequency: 5s
listen_addr: 0.0.0.0:8081
upstream: http://app:80
CONF
mv "$cfg.tmp" "$cfg"
echo "bouncer registered, config in $cfg"
