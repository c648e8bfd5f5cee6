#!/usr/bin/env bash
# Runs Aurous's local PostgreSQL (Debian's binaries): loopback TCP only, data in $AUROUS_POSTGRES_DATA, as the
# postgres account when started by root (postgres refuses to run as root). A new data folder is initialised with the
# password in $POSTGRES_PASSWORD and the database $POSTGRES_DB. The last step `exec`s the server, so the stop signal
# the AppHost sends reaches it.
set -euo pipefail
: "${PGPORT:?PGPORT is not set}" "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set}" "${AUROUS_POSTGRES_DATA:?AUROUS_POSTGRES_DATA is not set}"
db=${POSTGRES_DB:-aurous}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/postgres" ]; then
  echo "PostgreSQL is not installed (postgres, initdb): run eng/bootstrap.sh" >&2
  exit 2
fi

data=$AUROUS_POSTGRES_DATA
as_owner() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
  as_owner() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
fi

if [ ! -f "$data/PG_VERSION" ]; then
  echo "initialising a new database cluster in $data"
  rm -rf "$data"
  mkdir -p "$data"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data"
  chmod 700 "$data"
  pwfile=$(mktemp "${TMPDIR:-/tmp}/aurous-pg.XXXXXX")
  trap 'rm -f "$pwfile"' EXIT
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pwfile"
  as_owner "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$pwfile" \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  rm -f "$pwfile"
  # Single-user mode: the database exists before the server takes its first connection.
  echo "CREATE DATABASE \"$db\";" | as_owner "$bin/postgres" --single -D "$data" postgres >/dev/null
  echo "created database $db"
fi

# Room for three API instances' pools (up to 100 connections each after a burst), the worker's job servers, the
# dashboard and a test process's own pool at once.
exec_args=(-D "$data" -p "$PGPORT" -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=400
  -c fsync=on -c log_min_messages=warning -c log_line_prefix=)
if [ "$(id -u)" -eq 0 ]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$bin/postgres" "${exec_args[@]}"
fi
exec "$bin/postgres" "${exec_args[@]}"
