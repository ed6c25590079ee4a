#!/bin/sh
# Checks (and, as root, installs) the Debian packages mcppool builds with.
#   scripts/deps.sh check    install what is missing when root, else say what to run
#   scripts/deps.sh install  install everything that is missing (needs root)
#   scripts/deps.sh tools    the programs some tests run: promtool (Debian's prometheus),
#                            systemd-socket-activate and systemd-analyze (systemd),
#                            tmux (mcpctl top's test)
#   scripts/deps.sh fuzz     as check, plus what `make fuzz` adds: clang and its libFuzzer runtime
set -u
mode=${1:-check}

# pkg-config name or header : Debian package
missing=""
need() { # $1 = test command, $2 = package
    if ! sh -c "$1" >/dev/null 2>&1; then missing="$missing $2"; fi
}
# libFuzzer links only when clang's runtime package (libclang-rt-dev follows the
# default clang) is there: try it on a one-line harness.
fuzzer_links() {
    dir=$(mktemp -d) || return 1
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }\n' > "$dir/t.c"
    ${FUZZ_CC:-clang} -fsanitize=fuzzer,address,undefined -o "$dir/t" "$dir/t.c" >/dev/null 2>&1
    rc=$?
    rm -rf "$dir"
    return $rc
}

need "command -v pkg-config" pkg-config
# msgpack-c: pkg-config "msgpack" up to 4.x (libmsgpack-dev), "msgpack-c" from 6.0 on
# (libmsgpack-c-dev in Debian 13 and later).
msgpack_deb=libmsgpack-dev
if apt-cache show libmsgpack-c-dev >/dev/null 2>&1; then msgpack_deb=libmsgpack-c-dev; fi

if [ "$mode" = tools ]; then
    need "command -v promtool" prometheus
    need "command -v systemd-socket-activate || test -x /lib/systemd/systemd-socket-activate" systemd
    need "command -v systemd-analyze" systemd
    need "command -v tmux" tmux
else
    need "pkg-config --exists msgpack || pkg-config --exists msgpack-c" $msgpack_deb
    need "pkg-config --exists libsodium" libsodium-dev
    need "pkg-config --exists jansson" libjansson-dev
    need "pkg-config --exists libcurl" libcurl4-openssl-dev
    need "pkg-config --exists criterion" libcriterion-dev
    need "test -f /usr/include/ev.h" libev-dev
    need "command -v man" man-db
    # The Python client and its tests run on Debian's python3 (not a pyenv one).
    need "/usr/bin/python3 -c 'import msgpack'" python3-msgpack
    need "/usr/bin/python3 -c 'import pytest'" python3-pytest
    # An offline `pip install ./client/python` (tested by the Python suite).
    need "/usr/bin/python3 -m pip --version" python3-pip
    need "/usr/bin/python3 -c 'import setuptools'" python3-setuptools
    need "/usr/bin/python3 -c 'import wheel'" python3-wheel
    # Observability over HTTP and systemd integration (sd_notify, socket activation).
    need "pkg-config --exists libmicrohttpd" libmicrohttpd-dev
    need "pkg-config --exists libsystemd" libsystemd-dev
fi
if [ "$mode" = fuzz ]; then
    need "command -v ${FUZZ_CC:-clang}" clang
    fuzzer_links || missing="$missing libclang-rt-dev"
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >&2 && exit 0
    echo "deps: apt-get failed; run: apt-get install$missing" >&2
    exit 1
fi
if [ "$mode" = install ] && command -v sudo >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    sudo apt-get install -y$missing && exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: run: sudo apt-get install$missing" >&2
exit 1
