#!/bin/sh
# `make run`: mcppoold in the foreground on a built-in demo configuration.
set -eu
B=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case $B in /*) bdir=$B ;; *) bdir=$root/$B ;; esac
demo="$bdir/demo"
mkdir -p "$demo"
sock="$demo/mcppool.sock"
fixture="$bdir/mcp-fixture"

cat > "$demo/servers.json" <<JSON
{
  "mcpServers": {
    "demo": {
      "command": "$fixture",
      "args": ["--name", "demo"],
      "clientCapabilities": {"elicitation": {}, "roots": {}}
    },
    "demo-auth": {
      "command": "$fixture",
      "args": ["--name", "demo-auth"],
      "env": {"DEMO_TOKEN": "\${auth.token}"}
    }
  }
}
JSON

cat > "$demo/.env" <<ENV
# The seed's development settings.
MAX_CONNECTIONS_PER_USER=5
MAX_TOTAL_CONNECTIONS=20
CONNECTION_TIMEOUT=300000
CLEANUP_INTERVAL=60000
ENV

ctl="$bdir/mcpctl -s $sock"
cat <<TXT
mcppoold demo: socket $sock, catalog $demo/servers.json
Try, from another terminal:
  $ctl --pretty servers
  $ctl --pretty call alice demo echo '{"message":"hello"}'
  $ctl --pretty call bob demo-auth getenv '{"name":"DEMO_TOKEN"}' -a token=s3cret
  $ctl --pretty tools alice demo
  $ctl --pretty pool-status
  $ctl --pretty cleanup
  $ctl metrics
Stop with Ctrl-C.
TXT
exec "$bdir/mcppoold" -s "$sock" --servers "$demo/servers.json" --env-file "$demo/.env"
