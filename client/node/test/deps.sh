#!/bin/sh
# `npm test`'s pretest: installs the pinned npm packages of this client and of
# examples/express (their package-lock.json) when what is installed is older.
set -eu
cd "$(dirname "$0")/.."
for dir in . ../../examples/express; do
    if [ ! "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
