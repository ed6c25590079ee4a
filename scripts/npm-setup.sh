#!/bin/sh
# Installs the pinned npm packages of one package directory (default tests/interop),
# from its package-lock.json:   scripts/npm-setup.sh [DIR relative to the repository]
set -eu
cd "$(dirname "$0")/../${1:-tests/interop}"
if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -qq nodejs npm >&2
    else
        echo "npm-setup: node and npm are needed: apt-get install nodejs npm" >&2
        exit 1
    fi
fi
# Reinstall only when the lock file changed since the last install.
if [ -f node_modules/.package-lock.json ] && cmp -s package-lock.json node_modules/.mcppool-lock; then
    exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >&2
cp package-lock.json node_modules/.mcppool-lock
