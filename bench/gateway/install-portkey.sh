#!/usr/bin/env bash
# Installs Portkey's open-source gateway (npm @portkey-ai/gateway 1.15.2), the unmetered proxy the gateway comparison
# measures against, into a folder git ignores (default: artifacts/bench/portkey). Idempotent: a second run changes nothing.
#
# As published, 1.15.2 answers every proxied request with 500 "TypeError: immutable": a newer @hono/node-server hands it
# upstream responses whose headers may not be changed, and the gateway then adds its own headers to them. Two remedies,
# both applied: @hono/node-server is held at 1.14.2 by an npm override, and the installed bundle is edited so that the
# gateway copies the upstream Response (status, status text, a fresh Headers) before it adds its headers.
# Usage: bench/gateway/install-portkey.sh [folder]   (prints the path of the gateway's start script on its last line)
set -euo pipefail
cd "$(dirname "$0")/../.."

dir=${1:-artifacts/bench/portkey}
gateway_version=1.15.2
hono_node_server_version=1.14.2
say() { printf '[portkey] %s\n' "$*" >&2; }

mkdir -p "$dir"
manifest=$(cat <<JSON
{
  "name": "aurous-bench-portkey",
  "private": true,
  "description": "Portkey's gateway for the gateway comparison (bench/gateway); installed by install-portkey.sh, never committed",
  "dependencies": { "@portkey-ai/gateway": "$gateway_version" },
  "overrides": { "@hono/node-server": "$hono_node_server_version" }
}
JSON
)
stamp="$dir/node_modules/.aurous-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$manifest" ]; then
  say "@portkey-ai/gateway $gateway_version present in $dir"
else
  say "installing @portkey-ai/gateway $gateway_version (@hono/node-server $hono_node_server_version) into $dir"
  printf '%s\n' "$manifest" > "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
  printf '%s' "$manifest" > "$stamp"
fi

# Check what npm resolved: a wrong version would make the comparison (or the edit below) meaningless.
installed() { node -p "require('./$dir/node_modules/$1/package.json').version"; }
[ "$(installed @portkey-ai/gateway)" = "$gateway_version" ] || { say "expected @portkey-ai/gateway $gateway_version"; exit 1; }
[ "$(installed @hono/node-server)" = "$hono_node_server_version" ] || { say "expected @hono/node-server $hono_node_server_version"; exit 1; }

# The edit: in ResponseService.create, `this.updateHeaders(R,...)` becomes `R=new Response(R.body,{...copy of R}),this.updateHeaders(R,...)`.
bundle="$dir/node_modules/@portkey-ai/gateway/build/start-server.js"
call='this\.updateHeaders(\([A-Za-z_$][A-Za-z0-9_$]*\),'
copy='\1=new Response(\1.body,{status:\1.status,statusText:\1.statusText,headers:new Headers(\1.headers)}),this.updateHeaders(\1,'
if grep -q 'body,{status:[A-Za-z_$][A-Za-z0-9_$]*\.status,statusText:[A-Za-z_$][A-Za-z0-9_$]*\.statusText,headers:new Headers([A-Za-z_$][A-Za-z0-9_$]*\.headers)}),this\.updateHeaders(' "$bundle"; then
  say "the response-copy edit is already in $bundle"
else
  calls=$(grep -o "$call" "$bundle" | wc -l)
  if [ "$calls" -ne 1 ]; then
    say "expected one call of updateHeaders in $bundle, found $calls: the bundle is not the one this script knows"
    exit 1
  fi
  sed -i "s/$call/$copy/" "$bundle"
  say "edited $bundle: the upstream Response is copied before the gateway adds its headers"
fi
realpath "$bundle"
