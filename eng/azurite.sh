#!/usr/bin/env bash
# Runs Azurite, the Azure Blob Storage emulator (npm azurite, installed under eng/node by eng/bootstrap.sh), on
# loopback with its data in $AUROUS_AZURITE_DATA. `exec`s node so the AppHost's stop signal reaches it.
set -euo pipefail
: "${AZURITE_PORT:?AZURITE_PORT is not set}" "${AUROUS_AZURITE_DATA:?AUROUS_AZURITE_DATA is not set}"
here=$(cd "$(dirname "$0")" && pwd)
main="$here/node/node_modules/azurite/dist/src/blob/main.js"
if [ ! -f "$main" ] || ! command -v node >/dev/null; then
  echo "Azurite (npm azurite 3.35.0) or Node.js is missing: run eng/bootstrap.sh" >&2
  exit 2
fi
mkdir -p "$AUROUS_AZURITE_DATA"
exec node "$main" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" --location "$AUROUS_AZURITE_DATA" \
  --skipApiVersionCheck --loose --disableTelemetry --silent
