#!/usr/bin/env bash
# Runs Aurous's local Redis (Debian's redis-server) on loopback, password-protected. Redis holds only rate-limit
# buckets and caches here, so it keeps no snapshot on disk. `exec`s the server so the AppHost's stop signal reaches it.
set -euo pipefail
: "${REDIS_PORT:?REDIS_PORT is not set}" "${REDIS_PASSWORD:?REDIS_PASSWORD is not set}" "${AUROUS_REDIS_DATA:?AUROUS_REDIS_DATA is not set}"
server=$(command -v redis-server || true)
if [ -z "$server" ]; then
  echo "Redis is not installed (redis-server): run eng/bootstrap.sh" >&2
  exit 2
fi
mkdir -p "$AUROUS_REDIS_DATA"
exec "$server" --port "$REDIS_PORT" --bind 127.0.0.1 --requirepass "$REDIS_PASSWORD" --save "" --appendonly no \
  --dir "$AUROUS_REDIS_DATA" --loglevel warning
