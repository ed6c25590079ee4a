#!/bin/sh
# `make bench`: runs every section side by side on this machine and writes the
# Markdown report to bench/results/latest.md and bench/results/YYYY-MM-DD.md.
#   bench/run.sh [BUILD_DIR [SECTION...]]
# SECTIONs (all by default): wxu node_cmp hot_path throughput callgrind pool_scale cold_warm peers scale.
# A run of chosen sections only prints its report; bench/results/ keeps full runs.
# KEEP_TMP=1 keeps the run's temp dir (logs, callgrind profiles) for a look afterwards.
# Everything stays on Unix sockets and 127.0.0.1. Every process started here
# runs in its own process group and is stopped on exit, failure or Ctrl-C.
set -eu
B=${1:-build}
[ $# -gt 0 ] && shift
all_sections="wxu node_cmp hot_path throughput callgrind pool_scale cold_warm peers scale"
sections=${*:-$all_sections}
root=$(cd "$(dirname "$0")/.." && pwd)
case $B in /*) bdir=$B ;; *) bdir=$root/$B ;; esac
started=$(date +%s)
tmp=$(mktemp -d /tmp/mcppool-bench.XXXXXX)
bin=$tmp/bin      # the programs under test, copied so that a rebuild cannot swap them mid-run
bench="$bin/bench"
procs=""          # pids of the process groups to stop on exit
report="$tmp/report.md"

say() { printf 'bench: %s\n' "$*" >&2; }

# Runs a section of the measuring program; it is stopped if it runs over 8 minutes
# (throughput, the longest, takes about 3.5).
measure() { timeout --foreground 480 "$bench" "$@"; }

# ---- processes -------------------------------------------------------------------

alive() { # $1 = pid: running, and not a zombie
    [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}

# Every process as "pid ppid starttime state", in one pass over /proc: a walk per
# process (cat per child) took minutes with 10,000 servers.
proc_table() {
    cat /proc/[0-9]*/stat 2>/dev/null |
        awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print $1, f[2], f[20], f[1] }'
}

# Every descendant of $1, children first, as "pid" or with $2 = stamped "pid:starttime"
# (a pid is reused soon where 10,000 servers come and go: the start time tells them apart).
descendants() { # $1 = pid, $2 = format
    proc_table | awk -v root="$1" -v fmt="${2:-pid}" '
        { kids[$2] = kids[$2] " " $1; start[$1] = $3 }
        END { n = split(kids[root], q, " ")
              for (i = 1; i <= n; i++) {
                  print (fmt == "stamped" ? q[i] ":" start[q[i]] : q[i])
                  m = split(kids[q[i]], more, " ")
                  for (j = 1; j <= m; j++) q[++n] = more[j]
              } }'
}

still_running() { # $1 = file of pid:starttime lines: how many of them run (no zombie)
    proc_table | awk 'NR == FNR { want[$1] = 1; next }
                      ($1 ":" $3) in want && $4 != "Z" { n++ } END { print n + 0 }' "$1" -
}

# Starts a command in its own process group (in the background) and records it; sets $pid.
start() {
    setsid "$@" &
    pid=$!
    procs="$procs $pid"
}

# SIGTERM to the group, a grace period of $2 seconds, then SIGKILL to all that is left,
# the descendants that left the group included.
stop() { # $1 = pid, $2 = grace seconds
    _kids=$(descendants "$1")
    kill -TERM "-$1" 2>/dev/null || true
    _i=0
    while alive "$1" && [ $_i -lt $(($2 * 50)) ]; do sleep 0.02; _i=$((_i + 1)); done
    for _p in "$1" $_kids; do
        if alive "$_p"; then kill -KILL "$_p" 2>/dev/null || true; fi
    done
    kill -KILL "-$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    procs=$(echo "$procs" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ' || true)
}

cleanup() {
    _rc=$?
    for p in $procs; do stop "$p" 2; done
    if [ "$_rc" != 0 ] && [ -s "$report" ]; then
        cp "$report" /tmp/mcppool-bench-partial.md
        say "failed; the report so far is in /tmp/mcppool-bench-partial.md"
    fi
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls (up to $2 tenths of a second) until the command "$3 ..." succeeds; dies otherwise.
wait_until() { # $1 = what, $2 = tenths, $3... = command
    _what=$1; _tenths=$2; shift 2
    _i=0
    until "$@" >/dev/null 2>&1; do
        _i=$((_i + 1))
        [ $_i -lt "$_tenths" ] || { say "$_what did not come up"; exit 1; }
        sleep 0.1
    done
}

# Starts "$3..." (mcppoold, or a wrapper that execs it: env, taskset, valgrind) on socket $1
# with the catalog and the empty .env; waits until it answers. Sets $pid.
start_daemon() { # $1 = socket, $2 = log file, $3... = command
    _sock=$1; _log=$2; shift 2
    start "$@" -s "$_sock" --servers "$tmp/servers.json" --env-file "$tmp/empty.env" \
        --log-level warn 2>"$_log"
    wait_until "mcppoold on $_sock" 300 "$bin/mcpctl" -s "$_sock" servers
}

# ---- setup -----------------------------------------------------------------------

npm_setup() {
    "$root/scripts/npm-setup.sh"
    "$root/scripts/npm-setup.sh" client/node
    cd "$root/bench/npm"
    if ! cmp -s package-lock.json node_modules/.mcppool-lock 2>/dev/null; then
        npm ci --no-audit --no-fund --loglevel=error >&2
        cp package-lock.json node_modules/.mcppool-lock
    fi
    cd "$root"
}

# valgrind, for the callgrind section: installed as root (like scripts/deps.sh does), else named.
valgrind_setup() {
    command -v valgrind >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -qq valgrind >&2 && return 0
    fi
    say "valgrind is needed: apt-get install valgrind"
    exit 1
}

write_catalog() {
    everything=$root/tests/interop/node_modules/.bin/mcp-server-everything
    : > "$tmp/empty.env"
    cat > "$tmp/servers.json" <<JSON
{"mcpServers": {
  "fixture": {"command": "$bin/mcp-fixture", "args": []},
  "everything": {"command": "$everything", "args": ["stdio"]}
}}
JSON
}

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

http_ok() { # $1 = URL
    node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$1"
}

pkg_version() { # $1 = package-lock.json, $2 = package name
    node -e 'const l=require(process.argv[1]);console.log(l.packages["node_modules/"+process.argv[2]].version)' "$1" "$2"
}

# ---- report ----------------------------------------------------------------------

machine() {
    commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
    if [ -n "$(git -C "$root" status --porcelain --untracked-files=no -- . ':!bench/results' 2>/dev/null)" ]; then
        commit="$commit (with uncommitted changes)"
    fi
    cat <<MD
# mcppool benchmarks

Reproduce with \`make bench\`. Run on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit.

| machine | |
|---|---|
| CPU | $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) |
| cores | $(nproc) |
| memory | $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) |
| kernel | $(uname -sr) |
| compiler | $(${CC:-cc} --version | head -n 1) |
| node | $(node --version) (@modelcontextprotocol/sdk $(pkg_version "$root/bench/npm/package-lock.json" @modelcontextprotocol/sdk), supergateway $(pkg_version "$root/bench/npm/package-lock.json" supergateway), server-everything $(pkg_version "$root/tests/interop/package-lock.json" @modelcontextprotocol/server-everything)) |
| load average at the start | $(cut -d' ' -f1-3 /proc/loadavg) |

Every figure below was measured in this one run, its baseline beside it. A figure
is the median of its rounds with the smallest and largest round in brackets,
"median (min–max)"; latencies also give their 99th percentile the same way, and
10th / 90th percentiles where one median would hide two modes. Memory is PSS
(/proc/PID/smaps_rollup: shared pages split between the processes that map them).
MD
}

section() { # $1 = title, $2 = what it measures
    printf '\n## %s\n\n%s\n\n' "$1" "$2"
}

# ---- sections --------------------------------------------------------------------

wxu() {
    section "0. The scenario: W app workers × U users" "W Node worker processes serve the same U users; each worker makes every user's first call at once (a worker that just started), then every user keeps one call in flight in every worker. *Per-worker pools* is the design mcppool replaces: each worker keeps an MCP SDK \`Client\` (\`StdioClientTransport\`) per user, so W × U servers. *mcppoold*: every worker calls through one daemon with the Node client (\`client/node\`), U servers. Each round starts both from nothing (new workers, a new daemon); 3 rounds, the two designs in turns. Memory is PSS of the servers and the daemon right after the first calls; the workers' own PSS is shown apart."
    for w in 4 16; do
        node "$root/bench/npm/wxu.mjs" --bin "$bin" --label "mcp-fixture (C)" --command "$bin/mcp-fixture" \
            --args '[]' --workers $w --users 20 --rounds 3 --steady-seconds 1
        echo
    done
    node "$root/bench/npm/wxu.mjs" --bin "$bin" --label "server-everything (Node)" --command "$everything" \
        --args '["stdio"]' --workers 4 --users 5 --rounds 3 --steady-seconds 1
}

node_cmp() {
    section "0b. Node: the MCP SDK in process against the Node client through mcppoold" "The same C fixture, one \`tools/call\` (\`echo\`) at a time and then with 32 in flight: the SDK's \`Client\` over \`StdioClientTransport\` in the benchmark's process, against \`pool.call()\` of the Node client through mcppoold. 5 rounds, each with a server process of its own (a new SDK client, a new pool user), the two paths in turns; each round 2000 timed calls after 200, then 1 s of calls/s at 1 and at 32 in flight. Default scheduling first (as deployed: on this idle-ish 2-vCPU VM each hop that wakes a process sleeping on the other vCPU pays a wake-up), then every process on CPU 0."
    node "$root/bench/npm/nodecmp.mjs" --bin "$bin" --command "$bin/mcp-fixture" --rounds 5 --calls 2000
    echo
    taskset -c 0 node "$root/bench/npm/nodecmp.mjs" --bin "$bin" --command "$bin/mcp-fixture" --rounds 5 --calls 2000 --pin
}

hot_path() {
    # The daemon as it ships, against one with reply spinning turned the other way.
    spin_default=$("$bin/mcppoold" --check-config --env-file "$tmp/empty.env" 2>/dev/null |
        sed -n 's/^MCPPOOL_REPLY_SPIN_US=//p')
    if [ "${spin_default:-0}" = 0 ]; then alt_spin=50; else alt_spin=0; fi
    dlabel="\`MCPPOOL_REPLY_SPIN_US=$spin_default\` (the default)"
    alabel="\`MCPPOOL_REPLY_SPIN_US=$alt_spin\`"
    section "1. Hot path (C)" "One small \`tools/call\` (\`echo\`), one at a time, warm, from C (libmcppool). The paths take turns in 10 rounds, each round with server processes of its own (a new fixture for the direct path, a new user, so a new child, for each daemon), since where the scheduler puts a pair of processes tends to stay for their life. Two daemons take part: one as configured by default ($dlabel) and one started with $alabel. With reply spinning (see mcppoold(8)) the daemon polls instead of sleeping between writing a request to a server whose recent replies came within that many µs and reading the reply, so the server's answer finds it running. Path (c) puts the same fixture behind \`bench/relay\`, a process that only copies bytes between the benchmark's socket and the fixture's pipes with epoll, read and write: what any proxy process costs on this machine, the floor under mcppoold's own row. First with the scheduler free to spread the processes over the CPUs (as deployed), then with every process of the run on CPU 0 (\`taskset -c 0\`), which takes the cost of waking another, idle CPU out of each hop. The CPU table gives each path's serving process per call, the fixture behind each daemon, and the calling thread (libmcppool, or the benchmark's own JSON-RPC on the direct path)."
    echo "### Default scheduling (load average at the start: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    start_daemon "$tmp/alt.sock" "$tmp/alt.log" env MCPPOOL_REPLY_SPIN_US=$alt_spin "$bin/mcppoold"
    apid=$pid
    start "$bin/relay" "$tmp/relay.sock" "$bin/mcp-fixture" 600
    rpid=$pid
    wait_until "relay" 50 test -S "$tmp/relay.sock"
    measure hotpath --daemon "$dsock" --daemon-pid "$dpid" --daemon-label "$dlabel" \
        --echo "$esock" --echo-pid "$epid" --relay "$tmp/relay.sock" --relay-pid "$rpid" \
        --alt "$tmp/alt.sock" --alt-pid "$apid" --alt-label "$alabel" \
        --fixture "$bin/mcp-fixture" --iterations 20000 --rounds 10
    stop "$apid" 10
    stop "$rpid" 2
    start taskset -c 0 "$bin/relay" "$tmp/relay0.sock" "$bin/mcp-fixture" 600
    r0pid=$pid
    wait_until "relay on CPU 0" 50 test -S "$tmp/relay0.sock"
    start taskset -c 0 "$bin/echo_server" "$tmp/echo0.sock" 120
    e0pid=$pid
    wait_until "echo_server on CPU 0" 50 test -S "$tmp/echo0.sock"
    start_daemon "$tmp/cpu0.sock" "$tmp/cpu0.log" taskset -c 0 "$bin/mcppoold"
    d0pid=$pid
    start_daemon "$tmp/cpu0alt.sock" "$tmp/cpu0alt.log" taskset -c 0 env MCPPOOL_REPLY_SPIN_US=$alt_spin "$bin/mcppoold"
    a0pid=$pid
    echo
    echo "### Every process on CPU 0 (load average at the start: $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    taskset -c 0 timeout --foreground 300 "$bench" hotpath --daemon "$tmp/cpu0.sock" --daemon-pid "$d0pid" \
        --daemon-label "$dlabel" --echo "$tmp/echo0.sock" --echo-pid "$e0pid" \
        --relay "$tmp/relay0.sock" --relay-pid "$r0pid" \
        --alt "$tmp/cpu0alt.sock" --alt-pid "$a0pid" --alt-label "$alabel" \
        --fixture "$bin/mcp-fixture" --iterations 20000 --rounds 10
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    stop "$a0pid" 10
    stop "$d0pid" 10
    stop "$r0pid" 2
    stop "$e0pid" 2
}

throughput() {
    section "2. Throughput" "Each app connection keeps 8 calls in flight (\`mcppool_submit_call_msgpack\` + \`mcppool_process\`, one connection per thread at most); calls rotate over the pooled connections (users). The echo server gets the same load shape with frames of the same size; it does nothing per frame and has no MCP server behind it. Everything shares the same CPUs. CPU per call is utime + stime from /proc over the window."
    measure throughput --daemon "$dsock" --daemon-pid "$dpid" --echo "$esock" --echo-pid "$epid" \
        --fixture "$bin/mcp-fixture" --seconds 2 --rounds 3
}

# Total instructions (callgrind) of a daemon that served $1 calls after one warm-up call.
callgrind_run() { # $1 = calls
    _out="$tmp/callgrind.$1.out"
    start_daemon "$tmp/cg.sock" "$tmp/cg.$1.log" \
        valgrind --tool=callgrind --callgrind-out-file="$_out" "$bin/mcppoold"
    _cgpid=$pid
    measure calls --daemon "$tmp/cg.sock" --count "$1"
    stop "$_cgpid" 30
    callgrind_annotate --auto=no --threshold=100 --inclusive=yes "$_out" > "$tmp/callgrind.$1.incl"
    callgrind_annotate --auto=no --threshold=100 "$_out" > "$tmp/callgrind.$1.self"
}

# Per-call instructions of each function: (run of N calls - run of 0) / N, the top $4.
# $1, $2 = callgrind_annotate outputs, $3 = N, $4 = how many, $5 = regex on "file:function [object]".
callgrind_diff() {
    awk -v n="$3" -v filter="$5" '
        function parse(line) {
            if (!match(line, /^ *[0-9,]+ \( *[0-9.]+%\) +/)) return 0
            val = substr(line, 1, RLENGTH); sub(/\(.*/, "", val); gsub(/[ ,]/, "", val)
            name = substr(line, RLENGTH + 1)
            return 1
        }
        FNR == NR { if (parse($0)) base[name] = val; next }
        parse($0) && name ~ filter { per[name] = (val - base[name]) / n }
        END { for (k in per) printf "%.0f\t%s\n", per[k], k }' "$1" "$2" | sort -rn | head -n "$4"
}

callgrind() {
    n=2000
    section "2b. Instructions per proxied call" "mcppoold under \`valgrind --tool=callgrind\` serving $n blocking calls, minus a run serving none (both after one warm-up call), divided by $n. User-space instructions only: system calls count as one each."
    callgrind_run 0
    callgrind_run $n
    total0=$(sed -n 's/^totals: *//p' "$tmp/callgrind.0.out")
    total=$(sed -n 's/^totals: *//p' "$tmp/callgrind.$n.out")
    echo "**$(( (total - total0) / n )) instructions per proxied call** ($total − $total0 over $n calls)."
    echo
    echo "Where they go, inclusive of callees (the daemon's functions and the library calls they make; top 20):"
    echo
    echo "| instructions per call | function (inclusive) |"
    echo "|---:|---|"
    callgrind_diff "$tmp/callgrind.0.incl" "$tmp/callgrind.$n.incl" $n 100000 '[]]$' |
        grep -v -e '???:0x' -e ':main \[' -e ':daemon_run \[' -e '(below main)' -e ':ev_run \[' \
            -e ':ev_invoke_pending \[' -e ':__libc_start' | head -n 20 |
        awk -F '\t' -v root="$root/" '{ o = $2; sub(/.*\[/, "", o); sub(/\].*/, "", o); sub(/.*\//, "", o)
                                        sub(/ \[.*/, "", $2); sub(/^\?\?\?:/, "", $2); i = index($2, root)
                                        if (i) $2 = substr($2, i + length(root))
                                        else if ($2 ~ /^\.?\//) sub(/^.*\//, "", $2)
                                        printf "| %s | `%s` (%s) |\n", $1, $2, o }'
    echo
    echo "By object, exclusive (self) cost:"
    echo
    echo "| instructions per call | object |"
    echo "|---:|---|"
    callgrind_diff "$tmp/callgrind.0.self" "$tmp/callgrind.$n.self" $n 100000 '[]]$' |
        awk -F '\t' '{ o = $2; sub(/.*\[/, "", o); sub(/\].*/, "", o); sub(/.*\//, "", o)
                       if ($2 ~ /malloc\.c:/) o = o " (malloc/free)"
                       sum[o] += $1 }
                     END { for (o in sum) if (sum[o] >= 50) printf "%d\t%s\n", sum[o], o }' |
        sort -rn | awk -F '\t' '{ printf "| %s | %s |\n", $1, $2 }'
}

pool_scale() {
    section "3. Pool scale" "The pool module alone, in process (\`bench/pool_bench.c\`): lookups and touches are O(1), a sweep or a pool-status walk O(n)."
    "$bin/pool_bench"
}

cold_warm() {
    section "4. Cold versus warm" "The first call of a new user (spawn + \`initialize\` + the call) against calls on a reused connection, in 5 rounds. A round takes its cold samples (each a new user, evicted and its server gone before the next), then 200 steady warm calls in a row after 200 unmeasured ones; the 10 calls on the warm connection right after each spawn are shown apart (\"between spawns\"): the spawn's work still costs them."
    echo "| server | cold samples (rounds × each) | cold median ms: of the rounds (min–max) | cold p99 (ms), all samples | steady warm samples | warm median µs (min–max) | warm p99 µs (min–max) | warm between spawns: median / p99 (µs), all samples | cold / steady warm (min–max) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    measure cold --daemon "$dsock" --mcp fixture --label "mcp-fixture (C)" --rounds 5 --count 30 --warm 200
    measure cold --daemon "$dsock" --mcp everything \
        --label "@modelcontextprotocol/server-everything (node)" --rounds 5 --count 20 --warm 200
}

peers() {
    port=$(free_port)
    section "5. Peers: supergateway" "The same fixture behind \`supergateway --stdio … --outputTransport streamableHttp --stateful\` on 127.0.0.1:$port, called over Streamable HTTP with libcurl (keep-alive, one MCP session; \`--stateful\` because stateless mode starts a server per request). Throughput: as many HTTP connections as mcppoold has calls in flight. mcppoold runs the same calls with one pooled connection, in turns with it."
    start "$root/bench/npm/node_modules/.bin/supergateway" --stdio "$bin/mcp-fixture" \
        --outputTransport streamableHttp --stateful --port "$port" --healthEndpoint /healthz \
        --logLevel none > "$tmp/supergateway.log" 2>&1
    sgpid=$pid
    wait_until "supergateway" 200 http_ok "http://127.0.0.1:$port/healthz"
    measure peers --daemon "$dsock" --daemon-pid "$dpid" --url "http://127.0.0.1:$port/mcp" \
        --peer-pid "$sgpid" --iterations 2000 --rounds 3 --seconds 1
    stop "$sgpid" 5
}

# A scale daemon: MAX_TOTAL_CONNECTIONS=$1 + 100, 64 clients, MCPPOOL_SERVER_STDIO=$3,
# MCPPOOL_SERVER_STDERR=$4, and no sweep during the section (CLEANUP_INTERVAL one hour): its
# health pings would share the CPUs with the timed rows. Prints the rows of \`bench memory\` from --from $2
# up to $1 connections.
scale_run() { # $1 = connections, $2 = from, $3 = server stdio, $4 = server stderr
    start_daemon "$tmp/mem.sock" "$tmp/mem.log" env MAX_TOTAL_CONNECTIONS=$(($1 + 100)) \
        MCPPOOL_MAX_CLIENTS=64 MCPPOOL_SERVER_STDIO=$3 MCPPOOL_SERVER_STDERR=$4 \
        CLEANUP_INTERVAL=3600000 "$bin/mcppoold"
    mpid=$pid
    measure memory --daemon "$tmp/mem.sock" --daemon-pid "$mpid" --count "$1" --from "$2" \
        --label "$3, $4"
    descendants "$mpid" stamped > "$tmp/servers"
    t0=$(date +%s%N)
    kill -TERM "$mpid"
    i=0
    while alive "$mpid" && [ $i -lt 3000 ]; do sleep 0.02; i=$((i + 1)); done
    stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    left=$(still_running "$tmp/servers")
    stop "$mpid" 1
    stopped="$stopped $(wc -l < "$tmp/servers") servers in $stop_ms ms ($left left running);"
}

# The descriptors a scale daemon of $1 connections needs with $2 per connection (rlimit.h).
scale_need() { echo $(( ($1 + 100) * $2 + 64 + 32 )); }

# The arithmetic of scale_need as text: "(N + 100) × P + 64 + 32 = TOTAL".
scale_sum() { echo "($1 + 100) × $2 + 64 + 32 = $(scale_need "$1" "$2")"; }

scale() {
    hard=$(ulimit -Hn)
    t_scale=$(date +%s)
    rows=5000
    big=10000
    need_default=$(scale_need $big 3)
    need_one=$(scale_need $big 1)
    section "6. Scale: pooled connections" "A fresh daemon (MAX_TOTAL_CONNECTIONS 100 above the row's count, MCPPOOL_MAX_CLIENTS=64, CLEANUP_INTERVAL one hour, so that no sweep and its health pings, at most 16 in flight, run during the timed rows); each pooled connection is a C fixture server opened with \`warm\` for a new user. Daemon RSS and PSS; the servers' PSS summed; \`pool-status\` (the whole pool walked and sent) median of 5 (min–max); 1100 warm calls one at a time on one of the pooled connections (median / p99 of the last 1000). The daemon raises its open-file soft limit to the hard limit ($hard here, pid_max $(cat /proc/sys/kernel/pid_max)) and refuses a pool that cannot fit in it: (connections + 100) × the descriptors of a stdio connection + 64 clients + 32 reserved. A stdio connection holds its server's stdin and stdout pipes (MCPPOOL_SERVER_STDIO=pipes, the default; 2) or the one socket that is both (socket; 1), plus its stderr pipe with MCPPOOL_SERVER_STDERR=log (the default; 1, none with inherit or discard). The rows up to $rows run with the defaults, pipes and log, 3 descriptors a connection: $(scale_sum $rows 3) fit in $hard."
    echo "| pooled connections | server stdio, stderr | server processes | daemon RSS (MiB) | daemon PSS (MiB) | daemon PSS per connection (bytes, above 0) | servers' PSS (MiB) | per server (KiB) | pool-status (µs) | warm call median / p99 (µs) | new connection at this size, median of 5 (ms) |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    stopped=""
    scale_run $rows 0 pipes log
    refusal=$(env MAX_TOTAL_CONNECTIONS=$((big + 100)) MCPPOOL_MAX_CLIENTS=64 "$bin/mcppoold" \
        --check-config --env-file "$tmp/empty.env" 2>&1 >/dev/null | tail -n 1)
    if [ "$hard" = unlimited ] || [ "$hard" -ge "$need_default" ]; then
        scale_run $big $big pipes log
        note="The $big row kept the defaults, pipes and log: $(scale_sum $big 3) descriptors fit in the hard limit ($hard)."
    elif [ "$hard" -ge "$need_one" ]; then
        scale_run $big $big socket discard
        note="The $big row ran with MCPPOOL_SERVER_STDIO=socket and MCPPOOL_SERVER_STDERR=discard (a fresh daemon), 1 descriptor a connection: $(scale_sum $big 1) fits in the hard limit ($hard). With the defaults, $(scale_sum $big 3) descriptors exceed it, and it cannot be raised here: the daemon refuses that pool at start: $refusal."
    else
        note="No $big row on this machine: even with MCPPOOL_SERVER_STDIO=socket and MCPPOOL_SERVER_STDERR=discard it needs $need_one descriptors, above the hard limit ($hard)."
    fi
    echo
    echo "$note"
    echo
    echo "SIGTERM: the daemons closed${stopped%;}. The section took $(( $(date +%s) - t_scale )) s."
}

# ---- main ------------------------------------------------------------------------

mkdir "$bin"
for f in bench/bench bench/echo_server bench/relay bench/pool_bench mcppoold mcpctl mcp-fixture; do
    [ -x "$bdir/$f" ] || { say "$bdir/$f is missing: run make bench"; exit 1; }
    cp "$bdir/$f" "$bin/"
done
valgrind_setup
npm_setup
write_catalog
esock=$tmp/echo.sock
dsock=$tmp/mcppool.sock
start "$bin/echo_server" "$esock" 900
epid=$pid
wait_until "echo_server" 50 test -S "$esock"
start_daemon "$dsock" "$tmp/mcppoold.log" env MAX_TOTAL_CONNECTIONS=200 "$bin/mcppoold"
dpid=$pid

{
    machine
    for s in $sections; do
        say "$s ($(( $(date +%s) - started )) s)"
        "$s"
    done
    printf '\nWall time of the whole run: %s s. Load average at the end: %s.\n' \
        "$(( $(date +%s) - started ))" "$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$report"

cat "$report"
if [ "$sections" = "$all_sections" ]; then
    mkdir -p "$root/bench/results"
    cp "$report" "$root/bench/results/latest.md"
    cp "$report" "$root/bench/results/$(date -u +%Y-%m-%d).md"
    say "written to bench/results/latest.md and bench/results/$(date -u +%Y-%m-%d).md"
fi
