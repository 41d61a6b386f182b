#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for tests and prints its DSN.
#
#   scripts/pg.sh start [DIR]   install PostgreSQL if missing, create a cluster in
#                               DIR (default: a new temp dir), listen on a unix
#                               socket in DIR only, create database "phalanx",
#                               print the DSN on stdout (logs go to stderr)
#   scripts/pg.sh stop DIR      stop that server and remove DIR
#
# Works as root (the cluster is owned by and run as the postgres user) and as
# an ordinary user (run as that user). Durability is off: test data only.
set -euo pipefail

cmd="${1:-start}"
dir="${2:-}"

log() { echo "pg.sh: $*" >&2; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_bin() {
  local b
  b="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$b" ] || [ ! -x "$b/initdb" ]; then
    return 1
  fi
  echo "$b"
}

install_pg() {
  if pg_bin >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL is not installed and installing needs root"
    exit 1
  fi
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q postgresql >&2; then
    apt-get update -q >&2
    apt-get install -y -q postgresql >&2
  fi
  pg_bin >/dev/null || { log "postgresql installed but initdb not found"; exit 1; }
}

case "$cmd" in
start)
  install_pg
  bin="$(pg_bin)"
  if [ -z "$dir" ]; then
    dir="$(mktemp -d /tmp/phalanx-pg.XXXXXX)"
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { log "user postgres missing"; exit 1; }
    chown postgres:postgres "$dir"
  fi
  chmod 700 "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$bin/createdb" -h "$dir" -U postgres phalanx
  echo "postgres://postgres@/phalanx?host=$dir&sslmode=disable"
  ;;
stop)
  [ -n "$dir" ] || { log "usage: pg.sh stop DIR"; exit 2; }
  bin="$(pg_bin)" || exit 0
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  fi
  rm -rf "$dir"
  ;;
*)
  log "usage: pg.sh start [DIR] | stop DIR"
  exit 2
  ;;
esac
