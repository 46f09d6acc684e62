#!/usr/bin/env bash
# Installs the benchmark's peers, idempotently, outside the repository:
#   - Debian nginx and wrk (apt), if missing;
#   - Portkey's gateway (npm) under $CACHE/portkey, with @hono/node-server pinned
#     to the version Portkey's own package-lock.json resolves (newer ones break
#     its streaming);
#   - LiteLLM's proxy (PyPI litellm[proxy]) in a virtual environment under $CACHE/litellm.
# Nothing here touches the project's own dependencies.
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ocp-bench"
PORTKEY_VERSION=1.15.2
# Portkey-AI/gateway v1.15.2, package-lock.json: node_modules/@hono/node-server "version": "1.13.5"
HONO_NODE_SERVER_VERSION=1.13.5
# and hono itself "version": "4.9.7" there too (the gateway asks for ^4.9.7): pinned for reproducible numbers
HONO_VERSION=4.9.7
LITELLM_VERSION=1.108.7

log() { printf 'bench setup: %s\n' "$*" >&2; }
mkdir -p "$CACHE"

# --- nginx, wrk ---------------------------------------------------------------
need_apt=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
  # The Debian package may start a system nginx on :80; the benchmark runs its own.
fi

# --- Portkey's gateway ----------------------------------------------------------
PK="$CACHE/portkey"
pk_version() { node -p "require('$PK/node_modules/$1/package.json').version" 2>/dev/null || true; }
if [ "$(pk_version @portkey-ai/gateway)" != "$PORTKEY_VERSION" ] ||
  [ "$(pk_version @hono/node-server)" != "$HONO_NODE_SERVER_VERSION" ] ||
  [ "$(pk_version hono)" != "$HONO_VERSION" ]; then
  log "installing @portkey-ai/gateway@$PORTKEY_VERSION with @hono/node-server@$HONO_NODE_SERVER_VERSION into $PK"
  mkdir -p "$PK"
  cat >"$PK/package.json" <<EOF
{
  "name": "ocp-bench-portkey",
  "private": true,
  "dependencies": {
    "@portkey-ai/gateway": "$PORTKEY_VERSION",
    "@hono/node-server": "$HONO_NODE_SERVER_VERSION",
    "hono": "$HONO_VERSION"
  },
  "overrides": { "@hono/node-server": "$HONO_NODE_SERVER_VERSION", "hono": "$HONO_VERSION" }
}
EOF
  # --ignore-scripts: its only install script is patch-package, whose patches are not published.
  npm install --prefix "$PK" --no-audit --no-fund --ignore-scripts --loglevel=error
fi

# --- LiteLLM --------------------------------------------------------------------
VENV="$CACHE/litellm/venv"
if [ ! -x "$VENV/bin/litellm" ] ||
  [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" != "$LITELLM_VERSION" ]; then
  log "installing litellm[proxy]==$LITELLM_VERSION into $VENV"
  mkdir -p "$CACHE/litellm"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
fi

NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
log "ready: nginx $("$NGINX" -v 2>&1 | sed 's/.*\///'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), portkey $(pk_version @portkey-ai/gateway) (@hono/node-server $(pk_version @hono/node-server), hono $(pk_version hono)), litellm $LITELLM_VERSION"
